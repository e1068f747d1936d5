/*
 * ledger.c: the ledger state machine. See ledger.h for the contract.
 *
 * Memory is allocated once in ledger_new and never again: wallets, idempotency entries and
 * holds live in arrays indexed by uint32, found through open-addressing tables of 64-bit
 * slots (32-bit tag of the id's hash | index + 1), so a probe rarely touches the entry it
 * does not want. Indexes are never reused, which keeps state canonical: two ledgers that
 * applied the same batches hold the same arrays byte for byte.
 */
#include "ledger.h"

/* ---- Stored records (explicit padding so that serialised bytes are canonical) ---- */

struct wallet {
    jz_id id;
    int64_t balance;
    int64_t held;
    int64_t day_out;  /* outgoing limited amount on `day` */
    int64_t year_out; /* outgoing limited amount in `year` */
    int64_t created_at;
    uint32_t parent; /* index + 1, 0 = none */
    int32_t day;
    uint16_t operator_index;
    int16_t year;
    uint16_t mcc;
    uint8_t kind, tier, form, status;
    uint8_t flags; /* WALLET_RESTRICTED */
    uint8_t pad;
};
_Static_assert(sizeof(struct wallet) == 80, "wallet record is 80 bytes");
/* The wallet has a restriction record (found through restriction_index by its id). A flag
 * in the wallet's own cache line keeps the unrestricted path to one test of a byte. */
#define WALLET_RESTRICTED 0x01u

/* A restricted wallet's restriction (ledger.h, WALLET_OPEN and TRANSFER step 6a). The id
 * comes first: restriction_index finds records by it, as the other tables do. */
struct restriction {
    jz_id wallet_id;
    int64_t expires_at;
    int64_t swept_at;     /* the batch timestamp of the sweep; 0 before */
    int64_t swept_amount;
    uint32_t wallet;      /* wallet index */
    uint32_t return_to;   /* wallet index */
    uint16_t mccs[JZ_RESTRICTION_MCCS_MAX];
    uint8_t mcc_count;
    uint8_t swept;
    uint8_t pad[6];
};
_Static_assert(sizeof(struct restriction) == 72, "restriction record is 72 bytes");

/* An idempotency entry: the content of a transfer or hold creation (fingerprints of
 * variable parts) and its first result. */
struct xfer {
    jz_id id;
    uint64_t debit_fp;
    uint64_t credit_fp;
    int64_t amount;
    int64_t timestamp;
    uint32_t ref_fp;
    uint32_t memo_fp;
    uint32_t timeout_ms; /* actor << 24 | 24-bit fingerprint of a hold's timeout */
    uint8_t code;
    uint8_t field;
    uint8_t kind; /* transfer kind; 0 for a hold */
    uint8_t flags; /* LEDGER_FLAG_LINKED | XFER_IS_HOLD */
};
#define XFER_IS_HOLD 0x80u
_Static_assert(sizeof(struct xfer) == 64, "idempotency entry is 64 bytes");
_Static_assert(JZ_INSTITUTIONS_MAX <= 256, "an actor fits the top byte of xfer.timeout_ms");

struct hold {
    jz_id id;
    int64_t amount;
    int64_t captured;
    int64_t deadline;
    int64_t created_at;
    uint32_t debit;  /* wallet index */
    uint32_t credit; /* wallet index */
    int32_t day;     /* counters charged on this day / year (when counted) */
    int16_t year;
    uint8_t status;
    uint8_t counted;
};
_Static_assert(sizeof(struct hold) == 64, "hold record is 64 bytes");

struct institution {
    ledger_inst_id id;
    char name[JZ_NAME_MAX + 1];
    uint8_t kind;
    uint8_t pad[5];
    uint32_t treasury; /* wallet index */
    jz_id key_id;
    uint8_t sealed[LEDGER_SEALED_BYTES];
};

/* A min-heap of (deadline, item) with each item's position, so that an entry can be taken
 * out from the middle. Two of them: pending holds by deadline, and restricted wallets not yet
 * swept by expiry (item = restriction index). Expiring work is then O(what expires). */
struct heap_entry {
    int64_t deadline;
    uint32_t item;
    uint32_t pad;
};

struct heap {
    struct heap_entry *e;
    uint32_t *pos; /* per item: where its entry sits (valid while it is in the heap) */
    uint32_t count;
    uint32_t max;
};

static int heap_init(struct heap *h, uint32_t max);

/* The undo log of a linked chain: wallet records as they were, holds inserted. */
enum { UNDO_WALLET = 1, UNDO_HOLD = 2, UNDO_XFER = 3 };
struct undo {
    uint8_t type;
    uint32_t index;
    struct wallet saved;
};

struct table {
    uint64_t *slots;
    uint32_t mask;
};

struct ledger {
    struct ledger_config cfg;
    int64_t last_timestamp;
    uint32_t wallet_count;
    uint32_t xfer_count;
    uint32_t hold_count;
    uint32_t restriction_count;
    uint16_t inst_count;
    struct wallet *wallets;
    struct xfer *xfers;
    struct hold *holds;
    struct restriction *restrictions;
    struct heap hold_heap;        /* pending holds by deadline */
    struct heap expiry_heap;      /* restrictions not yet swept, by expires_at */
    struct institution *insts;
    struct table wallet_index;
    struct table xfer_index;
    struct table hold_index;
    struct table restriction_index; /* by wallet id */
    struct undo *undo;
    uint32_t *chain_entries; /* per chain member: its new idempotency entry or UINT32_MAX */
    uint32_t undo_count;
    uint32_t undo_max;
    bool in_chain;
};

/* ---- Time: calendar days and years in UTC+8 ---- */

#define MS_PER_DAY 86400000LL
#define UTC8_OFFSET_MS (8LL * 3600 * 1000)

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        q--;
    }
    return q;
}

int32_t ledger_day_of(int64_t timestamp_ms)
{
    return (int32_t)floor_div(timestamp_ms + UTC8_OFFSET_MS, MS_PER_DAY);
}

/* Year of a day number (days since 1970-01-01), after Howard Hinnant's civil_from_days. */
static int32_t year_of_day(int32_t day)
{
    int64_t z = (int64_t)day + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    return (int32_t)(m <= 2 ? y + 1 : y);
}

int32_t ledger_year_of(int64_t timestamp_ms)
{
    return year_of_day(ledger_day_of(timestamp_ms));
}

/* ---- Hash tables ---- */

static uint32_t next_pow2(uint64_t n)
{
    uint64_t p = 16;
    while (p < n) {
        p <<= 1;
    }
    ASSERT(p <= (1ULL << 31));
    return (uint32_t)p;
}

static int table_init(struct table *t, uint32_t entries_max)
{
    uint32_t n = next_pow2((uint64_t)entries_max + entries_max / 2 + 1);
    t->slots = calloc(n, sizeof *t->slots);
    t->mask = n - 1;
    return t->slots ? 0 : -1;
}

static inline uint64_t slot_make(uint64_t hash, uint32_t index)
{
    return (hash & 0xffffffff00000000ULL) | ((uint64_t)index + 1);
}

/* Returns the slot number holding id, or the empty slot where it would go (*found false). */
static inline uint32_t table_find(const struct table *t, const jz_id *id, uint64_t hash,
                                  const void *records, size_t record_size, bool *found)
{
    uint32_t i = (uint32_t)hash & t->mask;
    uint64_t tag = hash & 0xffffffff00000000ULL;
    for (;;) {
        uint64_t s = t->slots[i];
        if (s == 0) {
            *found = false;
            return i;
        }
        if ((s & 0xffffffff00000000ULL) == tag) {
            uint32_t index = (uint32_t)(s & 0xffffffffu) - 1;
            const jz_id *other = (const jz_id *)((const char *)records + record_size * index);
            if (jz_id_eq(other, id)) {
                *found = true;
                return i;
            }
        }
        i = (i + 1) & t->mask;
    }
}

static inline uint32_t slot_index(const struct table *t, uint32_t slot)
{
    return (uint32_t)(t->slots[slot] & 0xffffffffu) - 1;
}

static int64_t wallet_lookup(const ledger *l, const jz_id *id)
{
    bool found;
    uint32_t s = table_find(&l->wallet_index, id, jz_id_hash(id), l->wallets,
                            sizeof *l->wallets, &found);
    return found ? (int64_t)slot_index(&l->wallet_index, s) : -1;
}

static int64_t hold_lookup(const ledger *l, const jz_id *id)
{
    bool found;
    uint32_t s = table_find(&l->hold_index, id, jz_id_hash(id), l->holds, sizeof *l->holds,
                            &found);
    return found ? (int64_t)slot_index(&l->hold_index, s) : -1;
}

/* Removes the slot of the most recently inserted key. Safe under linear probing only when
 * removals happen in reverse order of insertion (the undo log guarantees it). */
static void table_remove_slot(struct table *t, const jz_id *id, const void *records,
                              size_t record_size)
{
    bool found;
    uint32_t s = table_find(t, id, jz_id_hash(id), records, record_size, &found);
    ASSERT(found);
    t->slots[s] = 0;
}

/* ---- Lifecycle ---- */

void ledger_config_default(struct ledger_config *cfg, uint32_t wallets_max, uint32_t transfers_max)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->wallets_max = wallets_max;
    cfg->transfers_max = transfers_max;
    cfg->holds_max = transfers_max / 8 + 1024;
    cfg->restrictions_max = wallets_max / 4 + 64;
    cfg->institutions_max = JZ_INSTITUTIONS_MAX;
    cfg->idempotency_window_ms = JZ_IDEMPOTENCY_WINDOW_MS;
    /* DESIGN.md §2, in fen (1 CNY = 100 fen). */
    const int64_t cny = 100;
    cfg->tiers[1] = (struct ledger_tier_limits){JZ_NO_LIMIT, JZ_NO_LIMIT, JZ_NO_LIMIT, JZ_NO_LIMIT};
    cfg->tiers[2] = (struct ledger_tier_limits){500000 * cny, 50000 * cny, 100000 * cny, JZ_NO_LIMIT};
    cfg->tiers[3] = (struct ledger_tier_limits){20000 * cny, 5000 * cny, 10000 * cny, JZ_NO_LIMIT};
    cfg->tiers[4] = (struct ledger_tier_limits){10000 * cny, 2000 * cny, 5000 * cny, 50000 * cny};
}

static bool config_valid(const struct ledger_config *cfg)
{
    if (cfg->wallets_max < 1 || cfg->wallets_max > (1u << 30) || cfg->transfers_max < 1 ||
        cfg->transfers_max > (1u << 30) || cfg->holds_max < 1 || cfg->holds_max > (1u << 30) ||
        cfg->restrictions_max > (1u << 30)) {
        return false;
    }
    if (cfg->institutions_max < 1 || cfg->institutions_max > JZ_INSTITUTIONS_MAX) {
        return false;
    }
    if (cfg->idempotency_window_ms < JZ_IDEMPOTENCY_WINDOW_MS) {
        return false;
    }
    for (int t = 1; t <= 4; t++) {
        const struct ledger_tier_limits *lim = &cfg->tiers[t];
        if (lim->balance_cap < 1 || lim->per_payment < 1 || lim->per_day < 1 ||
            lim->per_year < 1) {
            return false;
        }
    }
    return true;
}

ledger *ledger_new(const struct ledger_config *cfg)
{
    if (!config_valid(cfg)) {
        return NULL;
    }
    ledger *l = calloc(1, sizeof *l);
    if (!l) {
        return NULL;
    }
    l->cfg = *cfg;
    l->wallets = calloc(cfg->wallets_max, sizeof *l->wallets);
    l->xfers = calloc(cfg->transfers_max, sizeof *l->xfers);
    l->holds = calloc(cfg->holds_max, sizeof *l->holds);
    /* restrictions_max may be 0; one spare record keeps calloc from answering NULL. */
    l->restrictions = calloc((size_t)cfg->restrictions_max + 1, sizeof *l->restrictions);
    l->insts = calloc(cfg->institutions_max, sizeof *l->insts);
    /* A chain touches at most two wallets and one hold per member. */
    l->undo_max = 3 * JZ_BATCH_MAX;
    l->undo = calloc(l->undo_max, sizeof *l->undo);
    l->chain_entries = calloc(JZ_BATCH_MAX, sizeof *l->chain_entries);
    if (!l->chain_entries || !l->wallets || !l->xfers || !l->holds || !l->restrictions ||
        !l->insts || !l->undo || heap_init(&l->hold_heap, cfg->holds_max) != 0 ||
        heap_init(&l->expiry_heap, cfg->restrictions_max) != 0 ||
        table_init(&l->wallet_index, cfg->wallets_max) != 0 ||
        table_init(&l->xfer_index, cfg->transfers_max) != 0 ||
        table_init(&l->hold_index, cfg->holds_max) != 0 ||
        table_init(&l->restriction_index, cfg->restrictions_max) != 0) {
        ledger_free(l);
        return NULL;
    }
    return l;
}

void ledger_free(ledger *l)
{
    if (!l) {
        return;
    }
    free(l->wallets);
    free(l->xfers);
    free(l->holds);
    free(l->restrictions);
    free(l->hold_heap.e);
    free(l->hold_heap.pos);
    free(l->expiry_heap.e);
    free(l->expiry_heap.pos);
    free(l->insts);
    free(l->undo);
    free(l->chain_entries);
    free(l->wallet_index.slots);
    free(l->xfer_index.slots);
    free(l->hold_index.slots);
    free(l->restriction_index.slots);
    free(l);
}

const struct ledger_config *ledger_get_config(const ledger *l)
{
    return &l->cfg;
}

uint32_t ledger_wallet_count(const ledger *l)
{
    return l->wallet_count;
}

uint32_t ledger_institution_count(const ledger *l)
{
    return l->inst_count;
}

uint64_t ledger_transfer_count(const ledger *l)
{
    return l->xfer_count;
}

uint32_t ledger_hold_count(const ledger *l)
{
    return l->hold_count;
}

int64_t ledger_last_timestamp(const ledger *l)
{
    return l->last_timestamp;
}

uint32_t ledger_restriction_count(const ledger *l)
{
    return l->restriction_count;
}

int64_t ledger_next_expiry(const ledger *l)
{
    return l->expiry_heap.count > 0 ? l->expiry_heap.e[0].deadline : INT64_MAX;
}

/* ---- Expiry heaps (struct heap) ----
 * pos[item] is where an item's entry sits, so that a hold undone by a failed chain can be
 * taken out of the heap (and its index reused) instead of leaving a stale entry. */

static int heap_init(struct heap *h, uint32_t max)
{
    h->count = 0;
    h->max = max;
    h->e = calloc((size_t)max + 1, sizeof *h->e);
    h->pos = calloc((size_t)max + 1, sizeof *h->pos);
    return h->e && h->pos ? 0 : -1;
}

static bool heap_less(const struct heap_entry *a, const struct heap_entry *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->item < b->item);
}

static inline void heap_set(struct heap *h, uint32_t i, struct heap_entry e)
{
    h->e[i] = e;
    h->pos[e.item] = i;
}

static void heap_sift_up(struct heap *h, uint32_t i, struct heap_entry e)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!heap_less(&e, &h->e[parent])) {
            break;
        }
        heap_set(h, i, h->e[parent]);
        i = parent;
    }
    heap_set(h, i, e);
}

static void heap_sift_down(struct heap *h, uint32_t i, struct heap_entry e)
{
    uint32_t n = h->count;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n) {
            break;
        }
        if (c + 1 < n && heap_less(&h->e[c + 1], &h->e[c])) {
            c++;
        }
        if (!heap_less(&h->e[c], &e)) {
            break;
        }
        heap_set(h, i, h->e[c]);
        i = c;
    }
    heap_set(h, i, e);
}

static void heap_push(struct heap *h, int64_t deadline, uint32_t item)
{
    ASSERT(h->count < h->max);
    struct heap_entry e = {.deadline = deadline, .item = item};
    heap_sift_up(h, h->count++, e);
}

/* Removes the entry at position i. */
static void heap_remove_at(struct heap *h, uint32_t i)
{
    ASSERT(i < h->count);
    struct heap_entry last = h->e[--h->count];
    if (i == h->count) {
        return;
    }
    if (i > 0 && heap_less(&last, &h->e[(i - 1) / 2])) {
        heap_sift_up(h, i, last);
    } else {
        heap_sift_down(h, i, last);
    }
}

/* ---- Undo log for linked chains ---- */

static void undo_save_wallet(ledger *l, uint32_t index)
{
    if (!l->in_chain) {
        return;
    }
    ASSERT(l->undo_count < l->undo_max);
    struct undo *u = &l->undo[l->undo_count++];
    u->type = UNDO_WALLET;
    u->index = index;
    u->saved = l->wallets[index];
}

static void undo_note(ledger *l, uint8_t type, uint32_t index)
{
    if (!l->in_chain) {
        return;
    }
    ASSERT(l->undo_count < l->undo_max);
    struct undo *u = &l->undo[l->undo_count++];
    u->type = type;
    u->index = index;
}

/* Undoes the chain's effects in reverse order. Idempotency entries stay (their results are
 * rewritten by the caller); holds inserted by the chain become unfindable. */
static void undo_rollback(ledger *l)
{
    while (l->undo_count > 0) {
        struct undo *u = &l->undo[--l->undo_count];
        if (u->type == UNDO_WALLET) {
            l->wallets[u->index] = u->saved;
        } else if (u->type == UNDO_HOLD) {
            /* The chain's holds are undone newest first, so this is the last one made. */
            struct hold *h = &l->holds[u->index];
            ASSERT(u->index == l->hold_count - 1 && h->status == LEDGER_HOLD_PENDING);
            table_remove_slot(&l->hold_index, &h->id, l->holds, sizeof *l->holds);
            heap_remove_at(&l->hold_heap, l->hold_heap.pos[u->index]);
            memset(h, 0, sizeof *h);
            l->hold_count--;
        }
    }
}

/* ---- Small helpers ---- */

static uint32_t bytes_fp(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ n;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
    }
    return (uint32_t)(jz_mix64(h) >> 32);
}

static inline struct ledger_result result_make(int code, int field, int64_t ts)
{
    struct ledger_result r = {.code = (uint16_t)code, .field = (uint8_t)field, .timestamp = ts};
    return r;
}

static bool actor_valid(const ledger *l, uint16_t actor)
{
    return actor < l->inst_count;
}

static bool is_central(const ledger *l, uint16_t actor)
{
    return actor_valid(l, actor) && l->insts[actor].kind == LEDGER_INST_CENTRAL;
}

static bool is_issuance(const ledger *l, uint32_t w)
{
    return l->inst_count > 0 && w == l->insts[0].treasury;
}

static bool is_treasury(const ledger *l, uint32_t w)
{
    return l->wallets[w].kind == LEDGER_WALLET_TREASURY;
}

static uint32_t treasury_of(const ledger *l, uint32_t w)
{
    return l->insts[l->wallets[w].operator_index].treasury;
}

static bool inst_id_valid(const ledger_inst_id *id)
{
    size_t n = strnlen(id->s, sizeof id->s);
    if (n < 1 || n > JZ_INSTITUTION_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = id->s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return false;
        }
    }
    for (size_t i = n; i < sizeof id->s; i++) {
        if (id->s[i] != '\0') {
            return false;
        }
    }
    return true;
}

static int status_code(uint8_t status)
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

static bool kind_is_limited(uint8_t kind)
{
    return kind == LEDGER_KIND_P2P || kind == LEDGER_KIND_PAYMENT || kind == LEDGER_KIND_BILL;
}

static bool wallet_is_limited(const struct wallet *w)
{
    return w->kind == LEDGER_WALLET_PERSONAL || w->kind == LEDGER_WALLET_CORPORATE;
}

/* Counters as they stand at day d / year y (lazily reset). */
static int64_t day_out_at(const struct wallet *w, int32_t d)
{
    return w->day == d ? w->day_out : 0;
}

static int64_t year_out_at(const struct wallet *w, int32_t y)
{
    return w->year == y ? w->year_out : 0;
}

/* Adds amount to the limit counters of w at (d, y). The caller has checked the sums. */
static void counters_add(struct wallet *w, int32_t d, int32_t y, int64_t amount)
{
    w->day_out = day_out_at(w, d) + amount;
    w->day = d;
    w->year_out = year_out_at(w, y) + amount;
    w->year = (int16_t)y;
}

/* Gives back a counted amount if the counters still belong to the day / year it was
 * counted on. */
static void counters_release(struct wallet *w, int32_t d, int32_t y, int64_t amount)
{
    if (w->day == d) {
        w->day_out -= amount;
        ASSERT(w->day_out >= 0);
    }
    if (w->year == y) {
        w->year_out -= amount;
        ASSERT(w->year_out >= 0);
    }
}

/* ---- Transfers and holds ---- */

/* The content of a transfer or hold creation, as the idempotency table remembers it. */
static struct xfer xfer_content(const struct ledger_cmd *c, bool is_hold)
{
    struct xfer x;
    memset(&x, 0, sizeof x);
    x.id = c->id;
    x.debit_fp = jz_id_hash(&c->debit);
    x.credit_fp = jz_id_hash(&c->credit);
    x.amount = c->amount;
    x.ref_fp = bytes_fp(c->ref, c->ref_len < JZ_REF_MAX ? c->ref_len : JZ_REF_MAX) ^ c->ref_len;
    x.memo_fp = bytes_fp(c->memo, c->memo_len < JZ_MEMO_MAX ? c->memo_len : JZ_MEMO_MAX) ^
                c->memo_len;
    /* The top byte keeps the actor (institutions fit a byte: JZ_INSTITUTIONS_MAX), the rest
     * a fingerprint of a hold's timeout. */
    x.timeout_ms = (uint32_t)c->actor << 24 |
                   (is_hold ? (uint32_t)jz_mix64((uint64_t)c->timeout_ms) & 0xffffffu : 0);
    x.kind = is_hold ? 0 : c->kind;
    x.flags = (uint8_t)((c->flags & LEDGER_FLAG_LINKED) | (is_hold ? XFER_IS_HOLD : 0));
    return x;
}

/* The first field in which two remembered contents differ, or NONE. */
static int xfer_diff(const struct xfer *a, const struct xfer *b)
{
    if ((a->timeout_ms >> 24) != (b->timeout_ms >> 24)) {
        return LEDGER_FIELD_ID; /* another institution's id */
    }
    if (a->debit_fp != b->debit_fp) {
        return LEDGER_FIELD_DEBIT;
    }
    if (a->credit_fp != b->credit_fp) {
        return LEDGER_FIELD_CREDIT;
    }
    if (a->amount != b->amount) {
        return LEDGER_FIELD_AMOUNT;
    }
    if (a->kind != b->kind || (a->flags & XFER_IS_HOLD) != (b->flags & XFER_IS_HOLD)) {
        return LEDGER_FIELD_KIND; /* a hold and a transfer differ in kind, whatever the byte */
    }
    if (a->ref_fp != b->ref_fp) {
        return LEDGER_FIELD_REF;
    }
    if (a->memo_fp != b->memo_fp) {
        return LEDGER_FIELD_MEMO;
    }
    if ((a->flags & LEDGER_FLAG_LINKED) != (b->flags & LEDGER_FLAG_LINKED)) {
        return LEDGER_FIELD_LINKED;
    }
    if (a->timeout_ms != b->timeout_ms) {
        return LEDGER_FIELD_TIMEOUT_MS;
    }
    return LEDGER_FIELD_NONE;
}

/* Step 3: the shape of the command itself. */
static struct ledger_result check_fields(const struct ledger_cmd *c, bool is_hold, int64_t ts)
{
    if (c->amount < 1 || c->amount > JZ_AMOUNT_MAX) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_AMOUNT, ts);
    }
    if (!is_hold && (c->kind < 1 || c->kind > LEDGER_KIND_MAX)) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_KIND, ts);
    }
    if (c->ref_len > JZ_REF_MAX) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_REF, ts);
    }
    if (c->memo_len > JZ_MEMO_MAX) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_MEMO, ts);
    }
    if (is_hold && (c->timeout_ms < 1 || c->timeout_ms > JZ_HOLD_TIMEOUT_MAX_MS)) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_TIMEOUT_MS, ts);
    }
    return result_make(JZ_OK, 0, ts);
}

/* Step 5: who may move money between which wallets. */
static struct ledger_result check_authority(const ledger *l, const struct ledger_cmd *c,
                                            uint8_t kind, uint32_t d, uint32_t cr, int64_t ts)
{
    bool central_kind = kind == LEDGER_KIND_ISSUE || kind == LEDGER_KIND_REDEEM;
    bool allowed = central_kind ? is_central(l, c->actor)
                                : actor_valid(l, c->actor) &&
                                      l->wallets[d].operator_index == c->actor;
    if (!allowed) {
        return result_make(JZ_FORBIDDEN, 0, ts);
    }
    bool shape;
    switch (kind) {
    case LEDGER_KIND_ISSUE:
        shape = is_issuance(l, d) && is_treasury(l, cr) && !is_issuance(l, cr);
        break;
    case LEDGER_KIND_REDEEM:
        shape = is_treasury(l, d) && !is_issuance(l, d) && is_issuance(l, cr);
        break;
    case LEDGER_KIND_EXCHANGE_IN:
        shape = d == treasury_of(l, cr) && !is_treasury(l, cr);
        break;
    case LEDGER_KIND_EXCHANGE_OUT:
        shape = cr == treasury_of(l, d) && !is_treasury(l, d);
        break;
    default:
        shape = !is_issuance(l, d) && !is_issuance(l, cr);
        break;
    }
    return shape ? result_make(JZ_OK, 0, ts) : result_make(JZ_KIND_NOT_ALLOWED, LEDGER_FIELD_KIND, ts);
}

static const struct restriction *restriction_of(const ledger *l, const struct wallet *w)
{
    bool found;
    uint32_t s = table_find(&l->restriction_index, &w->id, jz_id_hash(&w->id), l->restrictions,
                            sizeof *l->restrictions, &found);
    ASSERT(found);
    return &l->restrictions[slot_index(&l->restriction_index, s)];
}

static bool mcc_allowed(const struct restriction *r, uint16_t mcc)
{
    for (uint8_t i = 0; i < r->mcc_count; i++) {
        if (r->mccs[i] == mcc) {
            return true;
        }
    }
    return r->mcc_count == 0;
}

/* Step 6a: what a restricted debit may pay, and until when either side may move money. */
static struct ledger_result check_restrictions(const ledger *l, const struct ledger_cmd *c,
                                               uint8_t kind, bool is_hold, uint32_t d,
                                               uint32_t cr, int64_t ts)
{
    const struct wallet *dw = &l->wallets[d];
    const struct wallet *cw = &l->wallets[cr];
    if (dw->flags & WALLET_RESTRICTED) {
        const struct restriction *r = restriction_of(l, dw);
        if (ts >= r->expires_at) {
            return result_make(JZ_FUNDS_EXPIRED, LEDGER_FIELD_DEBIT, ts);
        }
        if (kind != LEDGER_KIND_PAYMENT) {
            return result_make(JZ_RESTRICTED_CATEGORY, LEDGER_FIELD_KIND, ts);
        }
        if (cw->kind != LEDGER_WALLET_MERCHANT || !mcc_allowed(r, cw->mcc)) {
            return result_make(JZ_RESTRICTED_CATEGORY, LEDGER_FIELD_CREDIT, ts);
        }
        /* timeout_ms is at most JZ_HOLD_TIMEOUT_MAX_MS here (step 3): no overflow. */
        if (is_hold && ts + c->timeout_ms > r->expires_at) {
            return result_make(JZ_FUNDS_EXPIRED, LEDGER_FIELD_TIMEOUT_MS, ts);
        }
    }
    if ((cw->flags & WALLET_RESTRICTED) && ts >= restriction_of(l, cw)->expires_at) {
        return result_make(JZ_FUNDS_EXPIRED, LEDGER_FIELD_CREDIT, ts);
    }
    return result_make(JZ_OK, 0, ts);
}

/* Step 6: statuses, debit then credit. */
static struct ledger_result check_statuses(const ledger *l, uint32_t d, uint32_t cr, int64_t ts)
{
    int code = status_code(l->wallets[d].status);
    if (code != JZ_OK) {
        return result_make(code, LEDGER_FIELD_DEBIT, ts);
    }
    code = status_code(l->wallets[cr].status);
    if (code != JZ_OK) {
        return result_make(code, LEDGER_FIELD_CREDIT, ts);
    }
    return result_make(JZ_OK, 0, ts);
}

/* Steps 7-10: limits, funds, cap, overflow. */
static struct ledger_result check_money(const ledger *l, uint8_t kind, bool is_hold, uint32_t d,
                                        uint32_t cr, int64_t amount, int64_t ts)
{
    const struct wallet *dw = &l->wallets[d];
    const struct wallet *cw = &l->wallets[cr];
    if ((is_hold || kind_is_limited(kind)) && wallet_is_limited(dw)) {
        const struct ledger_tier_limits *lim = &l->cfg.tiers[dw->tier];
        int32_t day = ledger_day_of(ts);
        if (amount > lim->per_payment) {
            return result_make(JZ_PER_PAYMENT_LIMIT, LEDGER_FIELD_AMOUNT, ts);
        }
        if ((__int128)day_out_at(dw, day) + amount > lim->per_day) {
            return result_make(JZ_DAILY_LIMIT, LEDGER_FIELD_AMOUNT, ts);
        }
        if ((__int128)year_out_at(dw, year_of_day(day)) + amount > lim->per_year) {
            return result_make(JZ_ANNUAL_LIMIT, LEDGER_FIELD_AMOUNT, ts);
        }
    }
    if (!is_issuance(l, d) && dw->balance - dw->held < amount) {
        return result_make(JZ_INSUFFICIENT_FUNDS, LEDGER_FIELD_AMOUNT, ts);
    }
    if (!is_issuance(l, cr) && !is_treasury(l, cr) &&
        (__int128)cw->balance + amount > l->cfg.tiers[cw->tier].balance_cap) {
        return result_make(JZ_BALANCE_CAP_EXCEEDED, LEDGER_FIELD_CREDIT, ts);
    }
    int64_t sum;
    if (!is_hold && (jz_sub_overflows(dw->balance, amount, &sum) ||
                     jz_add_overflows(cw->balance, amount, &sum))) {
        return result_make(JZ_OVERFLOW, LEDGER_FIELD_AMOUNT, ts);
    }
    return result_make(JZ_OK, 0, ts);
}

static struct ledger_result validate_transfer(const ledger *l, const struct ledger_cmd *c,
                                              bool is_hold, int64_t ts, uint32_t *d_out,
                                              uint32_t *cr_out)
{
    struct ledger_result r = check_fields(c, is_hold, ts);
    if (r.code != JZ_OK) {
        return r;
    }
    int64_t d = wallet_lookup(l, &c->debit);
    if (d < 0) {
        return result_make(JZ_WALLET_NOT_FOUND, LEDGER_FIELD_DEBIT, ts);
    }
    int64_t cr = wallet_lookup(l, &c->credit);
    if (cr < 0) {
        return result_make(JZ_WALLET_NOT_FOUND, LEDGER_FIELD_CREDIT, ts);
    }
    if (d == cr) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_CREDIT, ts);
    }
    uint8_t kind = is_hold ? LEDGER_KIND_PAYMENT : c->kind;
    /* A hold is shaped like any other payment: the default branch of check_authority. */
    r = check_authority(l, c, kind, (uint32_t)d, (uint32_t)cr, ts);
    if (r.code != JZ_OK) {
        return r;
    }
    r = check_statuses(l, (uint32_t)d, (uint32_t)cr, ts);
    if (r.code != JZ_OK) {
        return r;
    }
    if ((l->wallets[d].flags | l->wallets[cr].flags) & WALLET_RESTRICTED) {
        r = check_restrictions(l, c, kind, is_hold, (uint32_t)d, (uint32_t)cr, ts);
        if (r.code != JZ_OK) {
            return r;
        }
    }
    r = check_money(l, kind, is_hold, (uint32_t)d, (uint32_t)cr, c->amount, ts);
    if (r.code != JZ_OK) {
        return r;
    }
    if (is_hold && l->hold_count == l->cfg.holds_max) {
        return result_make(JZ_CAPACITY_EXCEEDED, 0, ts);
    }
    *d_out = (uint32_t)d;
    *cr_out = (uint32_t)cr;
    return r;
}

static void post_transfer(ledger *l, const struct ledger_cmd *c, uint32_t d, uint32_t cr,
                          int64_t ts)
{
    struct wallet *dw = &l->wallets[d];
    struct wallet *cw = &l->wallets[cr];
    undo_save_wallet(l, d);
    undo_save_wallet(l, cr);
    dw->balance -= c->amount;
    cw->balance += c->amount;
    if (kind_is_limited(c->kind) && wallet_is_limited(dw)) {
        int32_t day = ledger_day_of(ts);
        counters_add(dw, day, year_of_day(day), c->amount);
    }
}

static void post_hold(ledger *l, const struct ledger_cmd *c, uint32_t d, uint32_t cr, int64_t ts)
{
    struct wallet *dw = &l->wallets[d];
    int32_t day = ledger_day_of(ts);
    uint32_t index = l->hold_count++;
    struct hold *h = &l->holds[index];
    undo_save_wallet(l, d);
    dw->held += c->amount;
    h->id = c->id;
    h->amount = c->amount;
    h->captured = 0;
    h->deadline = ts + c->timeout_ms;
    h->created_at = ts;
    h->debit = d;
    h->credit = cr;
    h->status = LEDGER_HOLD_PENDING;
    h->counted = wallet_is_limited(dw);
    if (h->counted) {
        h->day = day;
        h->year = (int16_t)year_of_day(day);
        counters_add(dw, day, year_of_day(day), c->amount);
    }
    bool found;
    uint64_t hash = jz_id_hash(&c->id);
    uint32_t s = table_find(&l->hold_index, &c->id, hash, l->holds, sizeof *l->holds, &found);
    ASSERT(!found);
    l->hold_index.slots[s] = slot_make(hash, index);
    heap_push(&l->hold_heap, h->deadline, index);
    undo_note(l, UNDO_HOLD, index);
}

/*
 * TRANSFER and HOLD_CREATE. *new_entry receives the index of the idempotency entry this
 * command created, or UINT32_MAX when it created none (replay, conflict, no id, capacity).
 */
static struct ledger_result apply_transfer(ledger *l, const struct ledger_cmd *c, bool is_hold,
                                           int64_t ts, uint32_t *new_entry)
{
    *new_entry = UINT32_MAX;
    if (jz_id_is_zero(&c->id)) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_ID, ts);
    }
    struct xfer content = xfer_content(c, is_hold);
    bool found;
    uint64_t hash = jz_id_hash(&c->id);
    uint32_t s = table_find(&l->xfer_index, &c->id, hash, l->xfers, sizeof *l->xfers, &found);
    if (found) {
        const struct xfer *first = &l->xfers[slot_index(&l->xfer_index, s)];
        if (ts - first->timestamp > l->cfg.idempotency_window_ms) {
            return result_make(JZ_ID_EXPIRED, LEDGER_FIELD_ID, ts);
        }
        int field = xfer_diff(first, &content);
        if (field != LEDGER_FIELD_NONE) {
            return result_make(JZ_ID_CONFLICT, field, ts);
        }
        struct ledger_result r = result_make(first->code, first->field, first->timestamp);
        r.replayed = 1;
        return r;
    }
    if (l->xfer_count == l->cfg.transfers_max) {
        return result_make(JZ_CAPACITY_EXCEEDED, 0, ts);
    }
    uint32_t d = 0;
    uint32_t cr = 0;
    struct ledger_result r = validate_transfer(l, c, is_hold, ts, &d, &cr);
    if (r.code == JZ_CAPACITY_EXCEEDED) {
        return r;
    }
    if (r.code == JZ_OK) {
        if (is_hold) {
            post_hold(l, c, d, cr, ts);
        } else {
            post_transfer(l, c, d, cr, ts);
        }
    }
    uint32_t index = l->xfer_count++;
    content.timestamp = ts;
    content.code = (uint8_t)r.code;
    content.field = r.field;
    l->xfers[index] = content;
    l->xfer_index.slots[s] = slot_make(hash, index);
    *new_entry = index;
    return r;
}

/* ---- Hold resolution ---- */

static void hold_release(ledger *l, struct hold *h, int64_t amount_left)
{
    struct wallet *dw = &l->wallets[h->debit];
    dw->held -= h->amount;
    ASSERT(dw->held >= 0);
    if (h->counted && amount_left > 0) {
        counters_release(dw, h->day, h->year, amount_left);
    }
}

static struct ledger_result find_pending_hold(ledger *l, const struct ledger_cmd *c, int64_t ts,
                                              struct hold **out)
{
    int64_t index = hold_lookup(l, &c->id);
    if (index < 0) {
        return result_make(JZ_HOLD_NOT_FOUND, LEDGER_FIELD_ID, ts);
    }
    struct hold *h = &l->holds[index];
    if (!actor_valid(l, c->actor) || l->wallets[h->debit].operator_index != c->actor) {
        return result_make(JZ_FORBIDDEN, 0, ts);
    }
    if (h->status != LEDGER_HOLD_PENDING) {
        return result_make(JZ_ALREADY_RESOLVED, 0, ts);
    }
    *out = h;
    return result_make(JZ_OK, 0, ts);
}

static struct ledger_result apply_capture(ledger *l, const struct ledger_cmd *c, int64_t ts)
{
    struct hold *h = NULL;
    struct ledger_result r = find_pending_hold(l, c, ts, &h);
    if (r.code != JZ_OK) {
        return r;
    }
    if (c->amount < 0 || c->amount > h->amount) {
        return result_make(JZ_AMOUNT_EXCEEDS_HOLD, LEDGER_FIELD_AMOUNT, ts);
    }
    int64_t amount = c->amount == 0 ? h->amount : c->amount;
    struct wallet *cw = &l->wallets[h->credit];
    int code = status_code(cw->status);
    if (code != JZ_OK) {
        return result_make(code, LEDGER_FIELD_CREDIT, ts);
    }
    if ((cw->flags & WALLET_RESTRICTED) && ts >= restriction_of(l, cw)->expires_at) {
        return result_make(JZ_FUNDS_EXPIRED, LEDGER_FIELD_CREDIT, ts);
    }
    if (!is_issuance(l, h->credit) && !is_treasury(l, h->credit) &&
        (__int128)cw->balance + amount > l->cfg.tiers[cw->tier].balance_cap) {
        return result_make(JZ_BALANCE_CAP_EXCEEDED, LEDGER_FIELD_CREDIT, ts);
    }
    int64_t sum;
    if (jz_add_overflows(cw->balance, amount, &sum)) {
        return result_make(JZ_OVERFLOW, LEDGER_FIELD_AMOUNT, ts);
    }
    hold_release(l, h, h->amount - amount);
    l->wallets[h->debit].balance -= amount;
    cw->balance += amount;
    h->captured = amount;
    h->status = LEDGER_HOLD_CAPTURED;
    return r;
}

static struct ledger_result apply_void(ledger *l, const struct ledger_cmd *c, int64_t ts)
{
    struct hold *h = NULL;
    struct ledger_result r = find_pending_hold(l, c, ts, &h);
    if (r.code != JZ_OK) {
        return r;
    }
    hold_release(l, h, h->amount);
    h->status = LEDGER_HOLD_VOIDED;
    return r;
}

static void expire_holds(ledger *l, int64_t ts)
{
    while (l->hold_heap.count > 0 && l->hold_heap.e[0].deadline <= ts) {
        struct hold *h = &l->holds[l->hold_heap.e[0].item];
        heap_remove_at(&l->hold_heap, 0);
        if (h->status == LEDGER_HOLD_PENDING) {
            hold_release(l, h, h->amount);
            h->status = LEDGER_HOLD_EXPIRED;
        }
    }
}

/* Moves an expired restricted wallet's balance home (ledger.h, ledger_apply_batch). */
static void sweep_restriction(ledger *l, struct restriction *r, int64_t ts)
{
    struct wallet *w = &l->wallets[r->wallet];
    uint32_t to = r->return_to;
    if (l->wallets[to].status == LEDGER_STATUS_CLOSED) {
        to = treasury_of(l, to);
    }
    /* Holds on a restricted wallet end by its expiry (step 6a), and expire_holds ran. */
    ASSERT(w->held == 0 && w->balance >= 0 && !r->swept);
    int64_t sum;
    int64_t amount = w->balance;
    if (jz_add_overflows(l->wallets[to].balance, amount, &sum)) {
        amount = 0;
    }
    w->balance -= amount;
    l->wallets[to].balance += amount;
    r->swept = 1;
    r->swept_at = ts;
    r->swept_amount = amount;
}

static void sweep_expired(ledger *l, int64_t ts)
{
    while (l->expiry_heap.count > 0 && l->expiry_heap.e[0].deadline <= ts) {
        struct restriction *r = &l->restrictions[l->expiry_heap.e[0].item];
        heap_remove_at(&l->expiry_heap, 0);
        sweep_restriction(l, r, ts);
    }
}

/* ---- Institutions and wallets ---- */

static uint32_t wallet_insert(ledger *l, const jz_id *id, uint16_t operator_index, uint8_t kind,
                              uint8_t tier, uint8_t form, uint32_t parent, uint16_t mcc, int64_t ts)
{
    ASSERT(l->wallet_count < l->cfg.wallets_max);
    uint32_t index = l->wallet_count++;
    struct wallet *w = &l->wallets[index];
    memset(w, 0, sizeof *w);
    w->id = *id;
    w->operator_index = operator_index;
    w->kind = kind;
    w->tier = tier;
    w->form = form;
    w->status = LEDGER_STATUS_ACTIVE;
    w->parent = parent;
    w->mcc = mcc;
    w->created_at = ts;
    bool found;
    uint64_t hash = jz_id_hash(id);
    uint32_t s = table_find(&l->wallet_index, id, hash, l->wallets, sizeof *l->wallets, &found);
    ASSERT(!found);
    l->wallet_index.slots[s] = slot_make(hash, index);
    return index;
}

static void institution_insert(ledger *l, const struct ledger_cmd *c, uint8_t kind,
                               const char *id, int64_t ts)
{
    struct institution *inst = &l->insts[l->inst_count];
    memset(inst, 0, sizeof *inst);
    strncpy(inst->id.s, id, JZ_INSTITUTION_ID_MAX);
    memcpy(inst->name, c->name, c->name_len <= JZ_NAME_MAX ? c->name_len : JZ_NAME_MAX);
    inst->kind = kind;
    inst->key_id = c->key_id;
    memcpy(inst->sealed, c->sealed, sizeof inst->sealed);
    inst->treasury = wallet_insert(l, &c->debit, l->inst_count, LEDGER_WALLET_TREASURY, 1,
                                   LEDGER_FORM_SOFT, 0, 0, ts);
    l->inst_count++;
}

static struct ledger_result apply_genesis(ledger *l, const struct ledger_cmd *c, int64_t ts)
{
    if (l->inst_count != 0) {
        return result_make(JZ_FORBIDDEN, 0, ts);
    }
    if (jz_id_is_zero(&c->debit)) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_TREASURY, ts);
    }
    if (c->name_len > JZ_NAME_MAX) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_NAME, ts);
    }
    institution_insert(l, c, LEDGER_INST_CENTRAL, "central", ts);
    return result_make(JZ_OK, 0, ts);
}

static int institution_find(const ledger *l, const char *id)
{
    for (uint16_t i = 0; i < l->inst_count; i++) {
        if (strncmp(l->insts[i].id.s, id, sizeof l->insts[i].id.s) == 0) {
            return i;
        }
    }
    return -1;
}

static struct ledger_result apply_institution_create(ledger *l, const struct ledger_cmd *c,
                                                     int64_t ts)
{
    if (!is_central(l, c->actor)) {
        return result_make(JZ_FORBIDDEN, 0, ts);
    }
    if (!inst_id_valid(&c->inst)) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_ID, ts);
    }
    if (c->kind != LEDGER_INST_OPERATOR) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_KIND, ts);
    }
    if (c->name_len < 1 || c->name_len > JZ_NAME_MAX) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_NAME, ts);
    }
    int existing = institution_find(l, c->inst.s);
    if (existing >= 0) {
        const struct institution *inst = &l->insts[existing];
        if (!jz_id_eq(&l->wallets[inst->treasury].id, &c->debit)) {
            return result_make(JZ_ID_CONFLICT, LEDGER_FIELD_TREASURY, ts);
        }
        if (strlen(inst->name) != c->name_len || memcmp(inst->name, c->name, c->name_len) != 0) {
            return result_make(JZ_ID_CONFLICT, LEDGER_FIELD_NAME, ts);
        }
        struct ledger_result r = result_make(JZ_OK, 0, l->wallets[inst->treasury].created_at);
        r.replayed = 1;
        return r;
    }
    if (jz_id_is_zero(&c->debit)) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_TREASURY, ts);
    }
    if (wallet_lookup(l, &c->debit) >= 0) {
        return result_make(JZ_ID_CONFLICT, LEDGER_FIELD_TREASURY, ts);
    }
    if (l->inst_count == l->cfg.institutions_max || l->wallet_count == l->cfg.wallets_max) {
        return result_make(JZ_CAPACITY_EXCEEDED, 0, ts);
    }
    institution_insert(l, c, LEDGER_INST_OPERATOR, c->inst.s, ts);
    return result_make(JZ_OK, 0, ts);
}

/* The restriction part of a replayed open: RETURN_TO, EXPIRES_AT, MCCS or NONE. */
static int restriction_diff(const ledger *l, const struct wallet *w, const struct ledger_cmd *c)
{
    if (!(w->flags & WALLET_RESTRICTED)) {
        return !jz_id_is_zero(&c->return_to) ? LEDGER_FIELD_RETURN_TO
               : c->expires_at != 0          ? LEDGER_FIELD_EXPIRES_AT
               : c->mcc_count != 0           ? LEDGER_FIELD_MCCS
                                             : LEDGER_FIELD_NONE;
    }
    const struct restriction *r = restriction_of(l, w);
    if (!jz_id_eq(&l->wallets[r->return_to].id, &c->return_to)) {
        return LEDGER_FIELD_RETURN_TO;
    }
    if (r->expires_at != c->expires_at) {
        return LEDGER_FIELD_EXPIRES_AT;
    }
    if (r->mcc_count != c->mcc_count ||
        memcmp(r->mccs, c->mccs, sizeof r->mccs[0] * r->mcc_count) != 0) {
        return LEDGER_FIELD_MCCS;
    }
    return LEDGER_FIELD_NONE;
}

/* The restriction of a new wallet (ledger.h, WALLET_OPEN); ok with *return_to set when
 * there is one. */
static struct ledger_result check_new_restriction(const ledger *l, const struct ledger_cmd *c,
                                                  int64_t ts, uint32_t *return_to)
{
    if (c->expires_at == 0) {
        bool other = !jz_id_is_zero(&c->return_to) || c->mcc_count != 0;
        return result_make(other ? JZ_INVALID_FIELD : JZ_OK,
                           other ? LEDGER_FIELD_EXPIRES_AT : 0, ts);
    }
    if (c->expires_at <= ts || c->expires_at - ts > JZ_RESTRICTION_MAX_MS) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_EXPIRES_AT, ts);
    }
    if (c->mcc_count > JZ_RESTRICTION_MCCS_MAX) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_MCCS, ts);
    }
    for (uint8_t i = 0; i < c->mcc_count; i++) {
        if (c->mccs[i] < 1 || c->mccs[i] > 9999) {
            return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_MCCS, ts);
        }
    }
    if (jz_id_is_zero(&c->return_to)) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_RETURN_TO, ts);
    }
    int64_t to = wallet_lookup(l, &c->return_to);
    if (to < 0) {
        return result_make(JZ_WALLET_NOT_FOUND, LEDGER_FIELD_RETURN_TO, ts);
    }
    if (is_issuance(l, (uint32_t)to) || (l->wallets[to].flags & WALLET_RESTRICTED)) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_RETURN_TO, ts);
    }
    *return_to = (uint32_t)to;
    return result_make(JZ_OK, 0, ts);
}

static void restriction_insert(ledger *l, const struct ledger_cmd *c, uint32_t wallet,
                               uint32_t return_to)
{
    ASSERT(l->restriction_count < l->cfg.restrictions_max);
    uint32_t index = l->restriction_count++;
    struct restriction *r = &l->restrictions[index];
    memset(r, 0, sizeof *r);
    r->wallet_id = c->id;
    r->wallet = wallet;
    r->return_to = return_to;
    r->expires_at = c->expires_at;
    r->mcc_count = c->mcc_count;
    memcpy(r->mccs, c->mccs, sizeof r->mccs[0] * c->mcc_count);
    l->wallets[wallet].flags |= WALLET_RESTRICTED;
    bool found;
    uint64_t hash = jz_id_hash(&c->id);
    uint32_t s = table_find(&l->restriction_index, &c->id, hash, l->restrictions,
                            sizeof *l->restrictions, &found);
    ASSERT(!found);
    l->restriction_index.slots[s] = slot_make(hash, index);
    heap_push(&l->expiry_heap, r->expires_at, index);
}

static int wallet_open_diff(const ledger *l, const struct wallet *w, const struct ledger_cmd *c)
{
    static const jz_id zero;
    const jz_id *parent = w->parent ? &l->wallets[w->parent - 1].id : &zero;
    if (w->operator_index != c->actor) {
        return LEDGER_FIELD_OPERATOR;
    }
    if (w->kind != c->kind) {
        return LEDGER_FIELD_KIND;
    }
    if (w->tier != c->tier) {
        return LEDGER_FIELD_TIER;
    }
    if (w->form != c->form) {
        return LEDGER_FIELD_FORM;
    }
    if (!jz_id_eq(parent, &c->credit)) {
        return LEDGER_FIELD_PARENT;
    }
    if (w->mcc != c->mcc) {
        return LEDGER_FIELD_MCC;
    }
    return restriction_diff(l, w, c);
}

static struct ledger_result apply_wallet_open(ledger *l, const struct ledger_cmd *c, int64_t ts)
{
    if (!actor_valid(l, c->actor) || l->insts[c->actor].kind != LEDGER_INST_OPERATOR) {
        return result_make(JZ_FORBIDDEN, 0, ts);
    }
    if (jz_id_is_zero(&c->id)) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_ID, ts);
    }
    int64_t existing = wallet_lookup(l, &c->id);
    if (existing >= 0) {
        int field = wallet_open_diff(l, &l->wallets[existing], c);
        if (field != LEDGER_FIELD_NONE) {
            return result_make(JZ_ID_CONFLICT, field, ts);
        }
        struct ledger_result r = result_make(JZ_OK, 0, l->wallets[existing].created_at);
        r.replayed = 1;
        return r;
    }
    if (c->kind < LEDGER_WALLET_PERSONAL || c->kind > LEDGER_WALLET_MERCHANT) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_KIND, ts);
    }
    if (c->tier < 1 || c->tier > 4) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_TIER, ts);
    }
    if (c->form != LEDGER_FORM_SOFT && c->form != LEDGER_FORM_HARD) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_FORM, ts);
    }
    uint32_t parent = 0;
    if (!jz_id_is_zero(&c->credit)) {
        int64_t p = wallet_lookup(l, &c->credit);
        if (p < 0) {
            return result_make(JZ_WALLET_NOT_FOUND, LEDGER_FIELD_PARENT, ts);
        }
        const struct wallet *pw = &l->wallets[p];
        if (pw->operator_index != c->actor) {
            return result_make(JZ_FORBIDDEN, 0, ts);
        }
        if (pw->parent != 0 || pw->status != LEDGER_STATUS_ACTIVE) {
            return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_PARENT, ts);
        }
        parent = (uint32_t)p + 1;
    }
    uint32_t return_to = UINT32_MAX;
    struct ledger_result r = check_new_restriction(l, c, ts, &return_to);
    if (r.code != JZ_OK) {
        return r;
    }
    if (l->wallet_count == l->cfg.wallets_max ||
        (c->expires_at != 0 && l->restriction_count == l->cfg.restrictions_max)) {
        return result_make(JZ_CAPACITY_EXCEEDED, 0, ts);
    }
    uint32_t w = wallet_insert(l, &c->id, c->actor, c->kind, c->tier, c->form, parent, c->mcc, ts);
    if (c->expires_at != 0) {
        restriction_insert(l, c, w, return_to);
    }
    return r;
}

/* Common checks of update and close: the wallet exists, is the actor's, is no treasury and
 * is not closed. */
static struct ledger_result own_open_wallet(ledger *l, const struct ledger_cmd *c, int64_t ts,
                                            struct wallet **out)
{
    int64_t index = wallet_lookup(l, &c->id);
    if (index < 0) {
        return result_make(JZ_WALLET_NOT_FOUND, LEDGER_FIELD_ID, ts);
    }
    struct wallet *w = &l->wallets[index];
    if (!actor_valid(l, c->actor) || w->operator_index != c->actor ||
        w->kind == LEDGER_WALLET_TREASURY) {
        return result_make(JZ_FORBIDDEN, 0, ts);
    }
    if (w->status == LEDGER_STATUS_CLOSED) {
        return result_make(JZ_WALLET_CLOSED, LEDGER_FIELD_ID, ts);
    }
    *out = w;
    return result_make(JZ_OK, 0, ts);
}

static struct ledger_result apply_wallet_update(ledger *l, const struct ledger_cmd *c, int64_t ts)
{
    struct wallet *w = NULL;
    struct ledger_result r = own_open_wallet(l, c, ts, &w);
    if (r.code != JZ_OK) {
        return r;
    }
    if (c->tier > 4) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_TIER, ts);
    }
    if (c->status > LEDGER_STATUS_LOST || (c->tier == 0 && c->status == 0)) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_STATUS, ts);
    }
    if (c->tier != 0) {
        w->tier = c->tier;
    }
    if (c->status != 0) {
        w->status = c->status;
    }
    return r;
}

static struct ledger_result apply_wallet_close(ledger *l, const struct ledger_cmd *c, int64_t ts)
{
    struct wallet *w = NULL;
    struct ledger_result r = own_open_wallet(l, c, ts, &w);
    if (r.code != JZ_OK) {
        return r;
    }
    if (w->balance != 0 || w->held != 0) {
        return result_make(JZ_BALANCE_NOT_ZERO, 0, ts);
    }
    w->status = LEDGER_STATUS_CLOSED;
    return r;
}

static struct ledger_result apply_note(const ledger *l, const struct ledger_cmd *c, int64_t ts)
{
    if (!actor_valid(l, c->actor)) {
        return result_make(JZ_FORBIDDEN, LEDGER_FIELD_NONE, ts);
    }
    if (c->kind == 0 || c->kind > LEDGER_NOTE_TOPIC_MAX) {
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_KIND, ts);
    }
    return result_make(JZ_OK, LEDGER_FIELD_NONE, ts);
}

/* ---- Batches and linked chains ---- */

static struct ledger_result apply_one(ledger *l, const struct ledger_cmd *c, int64_t ts,
                                      uint32_t *new_entry)
{
    *new_entry = UINT32_MAX;
    switch (c->op) {
    case LEDGER_OP_GENESIS:
        return apply_genesis(l, c, ts);
    case LEDGER_OP_INSTITUTION_CREATE:
        return apply_institution_create(l, c, ts);
    case LEDGER_OP_WALLET_OPEN:
        return apply_wallet_open(l, c, ts);
    case LEDGER_OP_WALLET_UPDATE:
        return apply_wallet_update(l, c, ts);
    case LEDGER_OP_WALLET_CLOSE:
        return apply_wallet_close(l, c, ts);
    case LEDGER_OP_TRANSFER:
        return apply_transfer(l, c, false, ts, new_entry);
    case LEDGER_OP_HOLD_CREATE:
        return apply_transfer(l, c, true, ts, new_entry);
    case LEDGER_OP_HOLD_CAPTURE:
        return apply_capture(l, c, ts);
    case LEDGER_OP_HOLD_VOID:
        return apply_void(l, c, ts);
    case LEDGER_OP_NOTE:
        return apply_note(l, c, ts);
    default:
        return result_make(JZ_INVALID_FIELD, LEDGER_FIELD_NONE, ts);
    }
}

static bool chainable(const struct ledger_cmd *c)
{
    return c->op == LEDGER_OP_TRANSFER || c->op == LEDGER_OP_HOLD_CREATE;
}

/* Remembers `code` for a chain member whose id is new (members after the failing one were
 * never applied, but their ids must not be reusable for different content later). */
static void remember_member(ledger *l, const struct ledger_cmd *c, int code, int64_t ts)
{
    if (!chainable(c) || jz_id_is_zero(&c->id) || l->xfer_count == l->cfg.transfers_max) {
        return;
    }
    bool found;
    uint64_t hash = jz_id_hash(&c->id);
    uint32_t s = table_find(&l->xfer_index, &c->id, hash, l->xfers, sizeof *l->xfers, &found);
    if (found) {
        return;
    }
    struct xfer content = xfer_content(c, c->op == LEDGER_OP_HOLD_CREATE);
    content.timestamp = ts;
    content.code = (uint8_t)code;
    uint32_t index = l->xfer_count++;
    l->xfers[index] = content;
    l->xfer_index.slots[s] = slot_make(hash, index);
}

/* Fails chain [first, last]: every member but `failed` gets `code`. */
static void chain_fail(ledger *l, const struct ledger_cmd *cmds, uint32_t first, uint32_t last,
                       int64_t failed, const uint32_t *entries, int code,
                       struct ledger_result *results, int64_t ts)
{
    undo_rollback(l);
    for (uint32_t k = first; k <= last; k++) {
        if ((int64_t)k == failed) {
            continue;
        }
        results[k] = result_make(code, 0, ts);
        if (entries[k - first] != UINT32_MAX) {
            l->xfers[entries[k - first]].code = (uint8_t)code;
            l->xfers[entries[k - first]].field = 0;
        } else if ((int64_t)k > failed) {
            remember_member(l, &cmds[k], code, ts);
        }
    }
}

static uint32_t apply_chain(ledger *l, const struct ledger_cmd *cmds, uint32_t first, uint32_t n,
                            struct ledger_result *results, int64_t ts)
{
    uint32_t *entries = l->chain_entries;
    uint32_t last = first;
    while (last < n && (cmds[last].flags & LEDGER_FLAG_LINKED)) {
        last++;
    }
    if (last == n) {
        /* Open at the end of the batch: nothing is applied, every member fails. */
        for (uint32_t k = first; k < n; k++) {
            entries[k - first] = UINT32_MAX;
        }
        l->undo_count = 0;
        chain_fail(l, cmds, first, n - 1, -1, entries, JZ_LINKED_OPEN, results, ts);
        return n;
    }
    l->in_chain = true;
    l->undo_count = 0;
    int64_t failed = -1;
    for (uint32_t k = first; k <= last; k++) {
        entries[k - first] = UINT32_MAX;
        if (!chainable(&cmds[k])) {
            results[k] = result_make(JZ_INVALID_FIELD, LEDGER_FIELD_LINKED, ts);
        } else {
            results[k] = apply_one(l, &cmds[k], ts, &entries[k - first]);
        }
        if (results[k].code != JZ_OK) {
            failed = k;
            break;
        }
    }
    if (failed >= 0) {
        for (uint32_t k = (uint32_t)failed + 1; k <= last; k++) {
            entries[k - first] = UINT32_MAX;
        }
        chain_fail(l, cmds, first, last, failed, entries, JZ_LINKED_FAILED, results, ts);
    }
    l->in_chain = false;
    l->undo_count = 0;
    return last + 1;
}

/* Prefetching. A transfer touches four cache lines nobody has touched lately (two wallet
 * index slots, two wallets) and one idempotency slot; in a large ledger each is a miss to
 * memory. Looking PREFETCH_FAR commands ahead we fetch the index slots, and PREFETCH_NEAR
 * commands ahead (when the slots have arrived) the wallets they point to, so the misses
 * overlap instead of queueing one after another. Purely a hint: no state changes. */
#define PREFETCH_FAR 16
#define PREFETCH_NEAR 8

static inline void prefetch_slots(const ledger *l, const struct ledger_cmd *c)
{
    if (c->op != LEDGER_OP_TRANSFER && c->op != LEDGER_OP_HOLD_CREATE) {
        return;
    }
    __builtin_prefetch(&l->wallet_index.slots[jz_id_hash(&c->debit) & l->wallet_index.mask]);
    __builtin_prefetch(&l->wallet_index.slots[jz_id_hash(&c->credit) & l->wallet_index.mask]);
    __builtin_prefetch(&l->xfer_index.slots[jz_id_hash(&c->id) & l->xfer_index.mask]);
}

static inline void prefetch_wallet(const ledger *l, const jz_id *id)
{
    uint64_t hash = jz_id_hash(id);
    uint64_t s = l->wallet_index.slots[hash & l->wallet_index.mask];
    if (s != 0 && (s & 0xffffffff00000000ULL) == (hash & 0xffffffff00000000ULL)) {
        __builtin_prefetch(&l->wallets[(uint32_t)(s & 0xffffffffu) - 1]);
    }
}

static inline void prefetch_wallets(const ledger *l, const struct ledger_cmd *c)
{
    if (c->op != LEDGER_OP_TRANSFER && c->op != LEDGER_OP_HOLD_CREATE) {
        return;
    }
    prefetch_wallet(l, &c->debit);
    prefetch_wallet(l, &c->credit);
}

void ledger_apply_batch(ledger *l, int64_t timestamp, const struct ledger_cmd *cmds, uint32_t n,
                        struct ledger_result *results)
{
    ASSERT(n <= JZ_BATCH_MAX);
    ASSERT(timestamp >= l->last_timestamp);
    l->last_timestamp = timestamp;
    expire_holds(l, timestamp);
    sweep_expired(l, timestamp);
    for (uint32_t k = 0; k < PREFETCH_FAR && k < n; k++) {
        prefetch_slots(l, &cmds[k]);
    }
    uint32_t i = 0;
    while (i < n) {
        if (i + PREFETCH_FAR < n) {
            prefetch_slots(l, &cmds[i + PREFETCH_FAR]);
        }
        if (i + PREFETCH_NEAR < n) {
            prefetch_wallets(l, &cmds[i + PREFETCH_NEAR]);
        }
        if (cmds[i].flags & LEDGER_FLAG_LINKED) {
            i = apply_chain(l, cmds, i, n, results, timestamp);
            continue;
        }
        uint32_t unused;
        results[i] = apply_one(l, &cmds[i], timestamp, &unused);
        i++;
    }
#ifndef NDEBUG
    char why[160];
    if (ledger_check_invariants(l, why, sizeof why) != 0) {
        fprintf(stderr, "jiaozi: ledger invariant broken after batch at %lld: %s\n",
                (long long)timestamp, why);
        abort();
    }
#endif
}

/* ---- Reads ---- */

int ledger_wallet_get(const ledger *l, const jz_id *id, int64_t now, struct ledger_wallet_view *out)
{
    int64_t index = wallet_lookup(l, id);
    if (index < 0) {
        return -1;
    }
    const struct wallet *w = &l->wallets[index];
    struct ledger_wallet_view v;
    memset(&v, 0, sizeof v);
    v.id = w->id;
    if (w->parent) {
        v.parent = l->wallets[w->parent - 1].id;
    }
    v.operator_index = w->operator_index;
    v.kind = w->kind;
    v.tier = w->tier;
    v.form = w->form;
    v.status = w->status;
    v.mcc = w->mcc;
    v.balance = w->balance;
    v.held = w->held;
    int32_t day = ledger_day_of(now);
    v.day_out = day_out_at(w, day);
    v.year_out = year_out_at(w, year_of_day(day));
    v.created_at = w->created_at;
    if (w->flags & WALLET_RESTRICTED) {
        const struct restriction *r = restriction_of(l, w);
        v.restricted = true;
        v.swept = r->swept != 0;
        v.mcc_count = r->mcc_count;
        memcpy(v.mccs, r->mccs, sizeof v.mccs);
        v.return_to = l->wallets[r->return_to].id;
        v.expires_at = r->expires_at;
        v.swept_at = r->swept_at;
        v.swept_amount = r->swept_amount;
    }
    *out = v;
    return 0;
}

int ledger_hold_get(const ledger *l, const jz_id *id, struct ledger_hold_view *out)
{
    int64_t index = hold_lookup(l, id);
    if (index < 0) {
        return -1;
    }
    const struct hold *h = &l->holds[index];
    struct ledger_hold_view v;
    memset(&v, 0, sizeof v);
    v.id = h->id;
    v.debit = l->wallets[h->debit].id;
    v.credit = l->wallets[h->credit].id;
    v.amount = h->amount;
    v.captured = h->captured;
    v.deadline = h->deadline;
    v.created_at = h->created_at;
    v.status = h->status;
    *out = v;
    return 0;
}

int ledger_transfer_result(const ledger *l, const jz_id *id, struct ledger_result *out)
{
    bool found;
    uint32_t s = table_find(&l->xfer_index, id, jz_id_hash(id), l->xfers, sizeof *l->xfers,
                            &found);
    if (!found) {
        return -1;
    }
    const struct xfer *x = &l->xfers[slot_index(&l->xfer_index, s)];
    *out = result_make(x->code, x->field, x->timestamp);
    return 0;
}

int ledger_institution_index(const ledger *l, const char *inst_id)
{
    return institution_find(l, inst_id);
}

int ledger_institution_at(const ledger *l, uint32_t i, struct ledger_institution_view *out)
{
    if (i >= l->inst_count) {
        return -1;
    }
    struct ledger_institution_view v;
    memset(&v, 0, sizeof v);
    v.id = l->insts[i].id;
    memcpy(v.name, l->insts[i].name, sizeof v.name);
    v.kind = l->insts[i].kind;
    v.treasury = l->wallets[l->insts[i].treasury].id;
    v.key_id = l->insts[i].key_id;
    memcpy(v.sealed, l->insts[i].sealed, sizeof v.sealed);
    *out = v;
    return 0;
}

int ledger_institution_get(const ledger *l, const char *inst_id, struct ledger_institution_view *out)
{
    int i = institution_find(l, inst_id);
    return i < 0 ? -1 : ledger_institution_at(l, (uint32_t)i, out);
}

int ledger_balance_sum(const ledger *l, int64_t *sum)
{
    int64_t total = 0;
    for (uint32_t i = 0; i < l->wallet_count; i++) {
        if (jz_add_overflows(total, l->wallets[i].balance, &total)) {
            return -1;
        }
    }
    *sum = total;
    return 0;
}

static int why_set(char *why, size_t why_len, const char *what, uint32_t index)
{
    if (why && why_len > 0) {
        snprintf(why, why_len, "%s (index %u)", what, index);
    }
    return -1;
}

int ledger_check_invariants(const ledger *l, char *why, size_t why_len)
{
    int64_t sum;
    if (ledger_balance_sum(l, &sum) != 0 || sum != 0) {
        return why_set(why, why_len, "conservation: balances do not sum to zero", 0);
    }
    /* Pending holds summed per wallet, in a scratch pass over the holds. */
    for (uint32_t i = 0; i < l->wallet_count; i++) {
        const struct wallet *w = &l->wallets[i];
        if (!is_issuance(l, i) && (w->balance < 0 || w->held < 0 || w->held > w->balance)) {
            return why_set(why, why_len, "wallet balance or held out of range", i);
        }
    }
    int64_t held_total = 0;
    int64_t pending_total = 0;
    for (uint32_t i = 0; i < l->wallet_count; i++) {
        held_total += l->wallets[i].held;
    }
    for (uint32_t i = 0; i < l->hold_count; i++) {
        const struct hold *h = &l->holds[i];
        if (h->status == LEDGER_HOLD_PENDING) {
            pending_total += h->amount;
        }
        if (h->status == LEDGER_HOLD_CAPTURED && (h->captured < 1 || h->captured > h->amount)) {
            return why_set(why, why_len, "captured amount out of range", i);
        }
    }
    if (held_total != pending_total) {
        return why_set(why, why_len, "held amounts differ from pending holds", 0);
    }
    uint32_t unswept = 0;
    for (uint32_t i = 0; i < l->restriction_count; i++) {
        const struct restriction *r = &l->restrictions[i];
        unswept += !r->swept;
        if (!(l->wallets[r->wallet].flags & WALLET_RESTRICTED) ||
            (r->swept && r->swept_at < r->expires_at) ||
            (!r->swept && r->expires_at <= l->last_timestamp)) {
            return why_set(why, why_len, "restriction not swept exactly at its expiry", i);
        }
    }
    if (unswept != l->expiry_heap.count) {
        return why_set(why, why_len, "restrictions to sweep differ from the expiry heap", 0);
    }
    return 0;
}

/* ---- Serialisation ---- */

#define LEDGER_STATE_MAGIC 0x534c5a4au /* "JZLS" */
/* Version 2 appends the restrictions after the holds (a count, then the records); version 1
 * states, written before restrictions existed, are still read (with none). */
#define LEDGER_STATE_VERSION 2

struct restrictions_header {
    uint32_t count;
    uint32_t pad;
};

struct state_header {
    uint32_t magic;
    uint32_t version;
    int64_t last_timestamp;
    int64_t idempotency_window_ms;
    struct ledger_tier_limits tiers[5];
    uint32_t wallet_count;
    uint32_t xfer_count;
    uint32_t hold_count;
    uint32_t inst_count;
};
_Static_assert(sizeof(struct state_header) == 200, "state header is 200 bytes");
_Static_assert(sizeof(struct institution) == 188, "institution record is 188 bytes");

int ledger_serialize(const ledger *l, ledger_emit_fn emit, void *ctx)
{
    struct state_header h;
    memset(&h, 0, sizeof h);
    h.magic = LEDGER_STATE_MAGIC;
    h.version = LEDGER_STATE_VERSION;
    h.last_timestamp = l->last_timestamp;
    h.idempotency_window_ms = l->cfg.idempotency_window_ms;
    memcpy(h.tiers, l->cfg.tiers, sizeof h.tiers);
    h.wallet_count = l->wallet_count;
    h.xfer_count = l->xfer_count;
    h.hold_count = l->hold_count;
    h.inst_count = l->inst_count;
    int rc = emit(ctx, &h, sizeof h);
    if (rc == 0) {
        rc = emit(ctx, l->insts, sizeof *l->insts * l->inst_count);
    }
    if (rc == 0) {
        rc = emit(ctx, l->wallets, sizeof *l->wallets * l->wallet_count);
    }
    if (rc == 0) {
        rc = emit(ctx, l->xfers, sizeof *l->xfers * l->xfer_count);
    }
    if (rc == 0) {
        rc = emit(ctx, l->holds, sizeof *l->holds * l->hold_count);
    }
    struct restrictions_header rh = {.count = l->restriction_count};
    if (rc == 0) {
        rc = emit(ctx, &rh, sizeof rh);
    }
    if (rc == 0) {
        rc = emit(ctx, l->restrictions, sizeof *l->restrictions * l->restriction_count);
    }
    return rc;
}

/* Rebuilds the index tables and the expiry heap from the arrays. */
static int rebuild_indexes(ledger *l)
{
    for (uint32_t i = 0; i < l->wallet_count; i++) {
        bool found;
        uint64_t hash = jz_id_hash(&l->wallets[i].id);
        uint32_t s = table_find(&l->wallet_index, &l->wallets[i].id, hash, l->wallets,
                                sizeof *l->wallets, &found);
        if (found) {
            return -1;
        }
        l->wallet_index.slots[s] = slot_make(hash, i);
    }
    for (uint32_t i = 0; i < l->xfer_count; i++) {
        bool found;
        uint64_t hash = jz_id_hash(&l->xfers[i].id);
        uint32_t s = table_find(&l->xfer_index, &l->xfers[i].id, hash, l->xfers,
                                sizeof *l->xfers, &found);
        if (found) {
            return -1;
        }
        l->xfer_index.slots[s] = slot_make(hash, i);
    }
    for (uint32_t i = 0; i < l->hold_count; i++) {
        const struct hold *h = &l->holds[i];
        if (h->debit >= l->wallet_count || h->credit >= l->wallet_count) {
            return -1;
        }
        bool found;
        uint64_t hash = jz_id_hash(&h->id);
        uint32_t s = table_find(&l->hold_index, &h->id, hash, l->holds, sizeof *l->holds, &found);
        if (found) {
            return -1;
        }
        l->hold_index.slots[s] = slot_make(hash, i);
        if (h->status == LEDGER_HOLD_PENDING) {
            heap_push(&l->hold_heap, h->deadline, i);
        }
    }
    for (uint32_t i = 0; i < l->restriction_count; i++) {
        const struct restriction *r = &l->restrictions[i];
        bool found;
        uint64_t hash = jz_id_hash(&r->wallet_id);
        uint32_t s = table_find(&l->restriction_index, &r->wallet_id, hash, l->restrictions,
                                sizeof *l->restrictions, &found);
        if (found) {
            return -1;
        }
        l->restriction_index.slots[s] = slot_make(hash, i);
        if (!r->swept) {
            heap_push(&l->expiry_heap, r->expires_at, i);
        }
    }
    return 0;
}

static bool state_records_valid(const ledger *l)
{
    for (uint16_t i = 0; i < l->inst_count; i++) {
        if (l->insts[i].treasury >= l->wallet_count) {
            return false;
        }
    }
    uint32_t restricted = 0;
    for (uint32_t i = 0; i < l->wallet_count; i++) {
        const struct wallet *w = &l->wallets[i];
        if (w->operator_index >= l->inst_count || w->tier < 1 || w->tier > 4 ||
            w->parent > l->wallet_count || (w->flags & ~WALLET_RESTRICTED) != 0) {
            return false;
        }
        restricted += (w->flags & WALLET_RESTRICTED) != 0;
    }
    for (uint32_t i = 0; i < l->restriction_count; i++) {
        const struct restriction *r = &l->restrictions[i];
        if (r->wallet >= l->wallet_count || r->return_to >= l->wallet_count ||
            r->mcc_count > JZ_RESTRICTION_MCCS_MAX || r->swept > 1 ||
            !jz_id_eq(&r->wallet_id, &l->wallets[r->wallet].id) ||
            !(l->wallets[r->wallet].flags & WALLET_RESTRICTED)) {
            return false;
        }
    }
    return restricted == l->restriction_count;
}

int ledger_deserialize(ledger *l, ledger_read_fn read, void *ctx)
{
    struct state_header h;
    if (l->wallet_count != 0 || l->inst_count != 0 || read(ctx, &h, sizeof h) != 0) {
        return -1;
    }
    if (h.magic != LEDGER_STATE_MAGIC || (h.version != 1 && h.version != LEDGER_STATE_VERSION) ||
        h.idempotency_window_ms != l->cfg.idempotency_window_ms ||
        memcmp(h.tiers, l->cfg.tiers, sizeof h.tiers) != 0 ||
        h.wallet_count > l->cfg.wallets_max || h.xfer_count > l->cfg.transfers_max ||
        h.hold_count > l->cfg.holds_max || h.inst_count > l->cfg.institutions_max) {
        return -1;
    }
    if (read(ctx, l->insts, sizeof *l->insts * h.inst_count) != 0 ||
        read(ctx, l->wallets, sizeof *l->wallets * h.wallet_count) != 0 ||
        read(ctx, l->xfers, sizeof *l->xfers * h.xfer_count) != 0 ||
        read(ctx, l->holds, sizeof *l->holds * h.hold_count) != 0) {
        return -1;
    }
    struct restrictions_header rh = {0};
    if (h.version >= 2 &&
        (read(ctx, &rh, sizeof rh) != 0 || rh.count > l->cfg.restrictions_max ||
         read(ctx, l->restrictions, sizeof *l->restrictions * rh.count) != 0)) {
        return -1;
    }
    l->restriction_count = rh.count;
    l->last_timestamp = h.last_timestamp;
    l->wallet_count = h.wallet_count;
    l->xfer_count = h.xfer_count;
    l->hold_count = h.hold_count;
    l->inst_count = (uint16_t)h.inst_count;
    if (!state_records_valid(l) || rebuild_indexes(l) != 0) {
        return -1;
    }
    return 0;
}

/* ---- Names ---- */

static const char *const kind_names[] = {
    [LEDGER_KIND_ISSUE] = "issue",
    [LEDGER_KIND_REDEEM] = "redeem",
    [LEDGER_KIND_EXCHANGE_IN] = "exchange_in",
    [LEDGER_KIND_EXCHANGE_OUT] = "exchange_out",
    [LEDGER_KIND_P2P] = "p2p",
    [LEDGER_KIND_PAYMENT] = "payment",
    [LEDGER_KIND_BILL] = "bill",
    [LEDGER_KIND_REFUND] = "refund",
    [LEDGER_KIND_CARD_LOAD] = "card_load",
    [LEDGER_KIND_CARD_UNLOAD] = "card_unload",
    [LEDGER_KIND_OFFLINE_SETTLE] = "offline_settle",
    [LEDGER_KIND_CAMPAIGN] = "campaign",
    [LEDGER_KIND_DISBURSEMENT] = "disbursement",
    [LEDGER_KIND_ADJUSTMENT] = "adjustment",
};
static const char *const wallet_kind_names[] = {
    [LEDGER_WALLET_PERSONAL] = "personal",
    [LEDGER_WALLET_CORPORATE] = "corporate",
    [LEDGER_WALLET_MERCHANT] = "merchant",
    [LEDGER_WALLET_TREASURY] = "treasury",
};
static const char *const status_names[] = {
    [LEDGER_STATUS_ACTIVE] = "active",
    [LEDGER_STATUS_FROZEN] = "frozen",
    [LEDGER_STATUS_LOST] = "lost",
    [LEDGER_STATUS_CLOSED] = "closed",
};
static const char *const form_names[] = {[LEDGER_FORM_SOFT] = "soft", [LEDGER_FORM_HARD] = "hard"};
static const char *const hold_status_names[] = {
    [LEDGER_HOLD_PENDING] = "pending",
    [LEDGER_HOLD_CAPTURED] = "captured",
    [LEDGER_HOLD_VOIDED] = "voided",
    [LEDGER_HOLD_EXPIRED] = "expired",
};
static const char *const field_names[] = {
    [LEDGER_FIELD_NONE] = "",        [LEDGER_FIELD_ID] = "id",
    [LEDGER_FIELD_DEBIT] = "debit",  [LEDGER_FIELD_CREDIT] = "credit",
    [LEDGER_FIELD_AMOUNT] = "amount", [LEDGER_FIELD_KIND] = "kind",
    [LEDGER_FIELD_REF] = "ref",      [LEDGER_FIELD_MEMO] = "memo",
    [LEDGER_FIELD_LINKED] = "linked", [LEDGER_FIELD_TIMEOUT_MS] = "timeout_ms",
    [LEDGER_FIELD_TIER] = "tier",    [LEDGER_FIELD_FORM] = "form",
    [LEDGER_FIELD_PARENT] = "parent", [LEDGER_FIELD_STATUS] = "status",
    [LEDGER_FIELD_OPERATOR] = "operator", [LEDGER_FIELD_NAME] = "name",
    [LEDGER_FIELD_TREASURY] = "treasury", [LEDGER_FIELD_MCC] = "mcc",
    [LEDGER_FIELD_RETURN_TO] = "return_to", [LEDGER_FIELD_EXPIRES_AT] = "expires_at",
    [LEDGER_FIELD_MCCS] = "mccs",
};

static const char *name_of(const char *const *names, size_t count, int value)
{
    if (value < 0 || (size_t)value >= count || names[value] == NULL) {
        return "";
    }
    return names[value];
}

static int parse_name(const char *const *names, size_t count, const char *s)
{
    for (size_t i = 1; i < count; i++) {
        if (names[i] && s && strcmp(names[i], s) == 0) {
            return (int)i;
        }
    }
    return 0;
}

#define NAMES(a) a, JZ_ARRAY_LEN(a)
const char *ledger_kind_name(int kind) { return name_of(NAMES(kind_names), kind); }
int ledger_kind_parse(const char *s) { return parse_name(NAMES(kind_names), s); }
const char *ledger_wallet_kind_name(int kind) { return name_of(NAMES(wallet_kind_names), kind); }
int ledger_wallet_kind_parse(const char *s) { return parse_name(NAMES(wallet_kind_names), s); }
const char *ledger_status_name(int status) { return name_of(NAMES(status_names), status); }
int ledger_status_parse(const char *s) { return parse_name(NAMES(status_names), s); }
const char *ledger_form_name(int form) { return name_of(NAMES(form_names), form); }
int ledger_form_parse(const char *s) { return parse_name(NAMES(form_names), s); }
const char *ledger_hold_status_name(int status)
{
    return name_of(NAMES(hold_status_names), status);
}
const char *ledger_field_name(int field) { return name_of(NAMES(field_names), field); }

int ledger_wallet_at(const ledger *l, uint32_t index, int64_t now, struct ledger_wallet_view *out)
{
    if (index >= l->wallet_count) {
        return -1;
    }
    return ledger_wallet_get(l, &l->wallets[index].id, now, out);
}
