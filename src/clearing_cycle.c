/*
 * clearing_cycle.c: cycles over the durable journal, and their files (clearing_cycle.h).
 */
#include "clearing_cycle.h"

#include <inttypes.h>

#include "command.h"
#include "journal.h"
#include "ledger.h"

/* ---- An index of entries keyed by a jz_id (the entry's first member) ---- */

struct idmap {
    uint32_t *slots; /* entry index + 1; 0 = empty */
    size_t cap;      /* a power of two; load kept at most 1/2 */
};

static uint32_t *idmap_slot(const struct idmap *m, const jz_id *id, const void *entries,
                            size_t stride)
{
    size_t mask = m->cap - 1;
    for (size_t s = jz_id_hash(id) & mask;; s = (s + 1) & mask) {
        uint32_t v = m->slots[s];
        if (v == 0 || memcmp((const char *)entries + (size_t)(v - 1) * stride, id, 16) == 0) {
            return &m->slots[s];
        }
    }
}

/* Makes room for count + 1 entries. */
static int idmap_reserve(struct idmap *m, size_t count, const void *entries, size_t stride)
{
    if ((count + 1) * 2 <= m->cap) {
        return 0;
    }
    struct idmap bigger = {.cap = m->cap ? m->cap * 2 : 1024};
    bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
    if (!bigger.slots) {
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        uint32_t v = m->slots[i];
        if (v != 0) {
            const jz_id *id = (const jz_id *)((const char *)entries + (size_t)(v - 1) * stride);
            *idmap_slot(&bigger, id, entries, stride) = v;
        }
    }
    free(m->slots);
    *m = bigger;
    return 0;
}

/* A growable array. */
static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return 0;
    }
    size_t c = *cap ? *cap * 2 : 1024;
    while (c < need) {
        c *= 2;
    }
    void *q = realloc(*p, c * size);
    if (!q) {
        return -1;
    }
    *p = q;
    *cap = c;
    return 0;
}

struct wallet_entry {
    jz_id id;
    uint16_t inst;
    uint16_t mcc;
    uint8_t kind;
};

void clearing_cutoff_note(struct ledger_cmd *c, uint8_t trigger, const uint8_t sm3[32],
                          uint64_t cycle)
{
    memset(c, 0, sizeof *c);
    c->op = LEDGER_OP_NOTE;
    c->actor = 0;
    c->kind = LEDGER_NOTE_CLEARING;
    c->amount = (int64_t)cycle;
    c->holder_len = CLEARING_NOTE_CUTOFF_BYTES;
    c->holder[0] = CLEARING_NOTE_CUTOFF;
    c->holder[1] = trigger;
    memcpy(c->holder + 2, sm3, 32);
}

int clearing_cutoff_submit(executor *ex, uint8_t trigger, const uint8_t sm3[32], uint64_t cycle)
{
    struct ledger_cmd c;
    struct ledger_result r;
    struct executor_request q;
    clearing_cutoff_note(&c, trigger, sm3, cycle);
    executor_request_init(&q);
    q.cmds = &c;
    q.results = &r;
    q.count = 1;
    int rc = executor_run(ex, &q);
    executor_request_destroy(&q);
    return rc == 0 && r.code == JZ_OK ? 0 : -1;
}

/* ---- The engine ---- */

struct clearing_engine {
    char dir[2048];
    store_clearing *st;
    struct ledger_cmd *scratch;
    struct wallet_entry *wallets;
    size_t nwallets, wallets_cap, wallets_saved;
    struct idmap wallet_map;
    struct store_clearing_hold *holds;
    size_t nholds, holds_cap, holds_saved;
    struct idmap hold_map;
    char names[JZ_INSTITUTIONS_MAX][JZ_INSTITUTION_ID_MAX + 1];
    const char *name_ptrs[JZ_INSTITUTIONS_MAX];
    uint32_t ninst, ninst_saved;
    uint64_t position; /* where the last closed cycle ends (0: nothing closed yet) */
    uint64_t last_cycle;
    int64_t last_closed_at;
    bool pending;
    struct clearing_schedule fees;
    uint8_t fees_sm3[32];
};

static const struct wallet_entry *wallet_find(const clearing_engine *e, const jz_id *id)
{
    uint32_t v = *idmap_slot(&e->wallet_map, id, e->wallets, sizeof *e->wallets);
    return v ? &e->wallets[v - 1] : NULL;
}

static int wallet_add(clearing_engine *e, const jz_id *id, uint16_t inst, uint8_t kind,
                      uint16_t mcc)
{
    if (idmap_reserve(&e->wallet_map, e->nwallets, e->wallets, sizeof *e->wallets) != 0 ||
        grow((void **)&e->wallets, &e->wallets_cap, e->nwallets + 1, sizeof *e->wallets) != 0) {
        return -1;
    }
    uint32_t *slot = idmap_slot(&e->wallet_map, id, e->wallets, sizeof *e->wallets);
    if (*slot != 0) {
        return 0; /* known: a wallet's institution, kind and category never change */
    }
    e->wallets[e->nwallets] =
        (struct wallet_entry){.id = *id, .inst = inst, .mcc = mcc, .kind = kind};
    *slot = (uint32_t)++e->nwallets;
    return 0;
}

static const struct store_clearing_hold *hold_find(const clearing_engine *e, const jz_id *id)
{
    if (e->hold_map.cap == 0) {
        return NULL;
    }
    uint32_t v = *idmap_slot(&e->hold_map, id, e->holds, sizeof *e->holds);
    return v ? &e->holds[v - 1] : NULL;
}

static int hold_add(clearing_engine *e, const struct store_clearing_hold *h)
{
    if (idmap_reserve(&e->hold_map, e->nholds, e->holds, sizeof *e->holds) != 0 ||
        grow((void **)&e->holds, &e->holds_cap, e->nholds + 1, sizeof *e->holds) != 0) {
        return -1;
    }
    uint32_t *slot = idmap_slot(&e->hold_map, &h->id, e->holds, sizeof *e->holds);
    if (*slot == 0) {
        e->holds[e->nholds] = *h;
        *slot = (uint32_t)++e->nholds;
    }
    return 0;
}

static int institution_add(clearing_engine *e, uint32_t index, const char *id)
{
    if (index >= JZ_INSTITUTIONS_MAX || index != e->ninst) {
        return index < e->ninst ? 0 : -1; /* numbered in order of creation */
    }
    snprintf(e->names[index], sizeof e->names[index], "%s", id);
    e->name_ptrs[index] = e->names[index];
    e->ninst++;
    return 0;
}

static int load_institution(void *ctx, uint32_t index, const char *id)
{
    return institution_add(ctx, index, id);
}

static int load_wallet(void *ctx, const jz_id *id, uint16_t inst, uint8_t kind, uint16_t mcc)
{
    return wallet_add(ctx, id, inst, kind, mcc);
}

static int load_hold(void *ctx, const struct store_clearing_hold *h)
{
    return hold_add(ctx, h);
}

static void schedule_key(const uint8_t sm3[32], char key[65])
{
    jz_hex_encode(sm3, 32, key);
}

static int schedule_text(const struct clearing_schedule *s, struct jbuf *b, uint8_t sm3[32])
{
    jb_init(b);
    clearing_schedule_write(s, b);
    return b->failed || crypto_sm3(b->p, b->len, sm3) != 0 ? -1 : 0;
}

int clearing_engine_set_fees(clearing_engine *e, const struct clearing_schedule *s, uint8_t sm3[32])
{
    struct jbuf b;
    uint8_t hash[32];
    char key[65];
    int rc = schedule_text(s, &b, hash);
    if (rc == 0) {
        schedule_key(hash, key);
        rc = store_clearing_put_doc(e->st, "fees", key, b.p, b.len, NULL, 0) |
             store_clearing_put_doc(e->st, "meta", "fees_in_force", key, 64, NULL, 0);
    }
    jb_free(&b);
    if (rc == 0) {
        e->fees = *s;
        memcpy(e->fees_sm3, hash, 32);
        memcpy(sm3, hash, 32);
    }
    return rc;
}

const struct clearing_schedule *clearing_engine_fees(const clearing_engine *e, uint8_t sm3[32])
{
    memcpy(sm3, e->fees_sm3, 32);
    return &e->fees;
}

int clearing_engine_schedule(clearing_engine *e, const uint8_t sm3[32],
                             struct clearing_schedule *out)
{
    char key[65];
    char *body = NULL;
    size_t len = 0;
    struct api_error err;
    if (memcmp(sm3, e->fees_sm3, 32) == 0) {
        *out = e->fees;
        return 0;
    }
    schedule_key(sm3, key);
    int rc = store_clearing_get_doc(e->st, "fees", key, &body, &len, NULL, NULL);
    if (rc == 0 && clearing_schedule_parse(body, len, out, &err) != 0) {
        rc = -1;
    }
    free(body);
    return rc;
}

/* The schedule in force: the one the store names, else the default (stored now). */
static int load_fees(clearing_engine *e)
{
    char *hex = NULL;
    size_t len = 0;
    uint8_t sm3[32];
    int rc = store_clearing_get_doc(e->st, "meta", "fees_in_force", &hex, &len, NULL, NULL);
    if (rc == 1) {
        struct clearing_schedule def;
        clearing_schedule_default(&def);
        return clearing_engine_set_fees(e, &def, sm3);
    }
    rc = rc == 0 && len == 64 && jz_hex_decode(hex, 64, sm3, 32) == 0 ? 0 : -1;
    free(hex);
    memset(e->fees_sm3, 0, sizeof e->fees_sm3); /* not yet known: read from the store */
    if (rc != 0 || clearing_engine_schedule(e, sm3, &e->fees) != 0) {
        return -1;
    }
    memcpy(e->fees_sm3, sm3, 32);
    return 0;
}

static int64_t meta_int(store_clearing *st, const char *key)
{
    int64_t v = 0;
    return store_clearing_get_int(st, key, &v) == 0 ? v : 0;
}

int clearing_engine_open(const char *dir, store_clearing *st, clearing_engine **out, char *err,
                         size_t err_len)
{
    clearing_engine *e = calloc(1, sizeof *e);
    if (!e || strlen(dir) >= sizeof e->dir ||
        !(e->scratch = calloc(JZ_BATCH_MAX, sizeof *e->scratch))) {
        clearing_engine_free(e);
        snprintf(err, err_len, "clearing: out of memory");
        return -1;
    }
    snprintf(e->dir, sizeof e->dir, "%s", dir);
    e->st = st;
    struct store_clearing_loader l = {
        .institution = load_institution, .wallet = load_wallet, .hold = load_hold, .ctx = e};
    if (store_clearing_load(st, &l) != 0 || load_fees(e) != 0) {
        clearing_engine_free(e);
        snprintf(err, err_len, "clearing: cannot read clearing.db");
        return -1;
    }
    e->wallets_saved = e->nwallets;
    e->holds_saved = e->nholds;
    e->ninst_saved = e->ninst;
    e->position = (uint64_t)meta_int(st, "position");
    e->last_cycle = (uint64_t)meta_int(st, "last_cycle");
    e->last_closed_at = meta_int(st, "last_closed_at");
    e->pending = meta_int(st, "pending_cutoff") != 0;
    *out = e;
    return 0;
}

void clearing_engine_free(clearing_engine *e)
{
    if (!e) {
        return;
    }
    free(e->scratch);
    free(e->wallets);
    free(e->wallet_map.slots);
    free(e->holds);
    free(e->hold_map.slots);
    free(e);
}

int clearing_engine_set_pending(clearing_engine *e, bool pending)
{
    if (store_clearing_set_int(e->st, "pending_cutoff", pending) != 0) {
        return -1;
    }
    e->pending = pending;
    return 0;
}

bool clearing_engine_pending(const clearing_engine *e)
{
    return e->pending;
}

uint64_t clearing_engine_last_cycle(const clearing_engine *e)
{
    return e->last_cycle;
}

int64_t clearing_engine_last_closed_at(const clearing_engine *e)
{
    return e->last_closed_at;
}

uint32_t clearing_engine_institutions(const clearing_engine *e)
{
    return e->ninst;
}

const char *clearing_engine_institution(const clearing_engine *e, uint32_t index)
{
    return index < e->ninst ? e->names[index] : "";
}

int clearing_engine_institution_index(const clearing_engine *e, const char *id)
{
    for (uint32_t i = 0; i < e->ninst; i++) {
        if (strcmp(e->names[i], id) == 0) {
            return (int)i;
        }
    }
    return -1;
}

store_clearing *clearing_engine_store(clearing_engine *e)
{
    return e->st;
}

/* ---- Reading the journal ---- */

struct scan {
    clearing_engine *e;
    uint64_t seq;
    int64_t timestamp;
    int64_t first_timestamp; /* of the first record read */
    uint32_t index;
    uint64_t from_pos; /* commands at or before are skipped */
    uint64_t to_pos;   /* the walk stops at this position */
    bool update_index; /* a catch-up learns wallets, holds and institutions */
    int (*on_item)(struct scan *s, const struct clearing_item *it);
    int (*on_cutoff)(struct scan *s, const struct ledger_cmd *c, uint64_t pos);
    void *ctx;
};

#define SCAN_STOP 1

static int index_command(struct scan *s, const struct ledger_cmd *c)
{
    clearing_engine *e = s->e;
    const struct wallet_entry *d;
    const struct wallet_entry *cr;
    switch (c->op) {
    case LEDGER_OP_GENESIS:
    case LEDGER_OP_INSTITUTION_CREATE: {
        uint32_t index = e->ninst;
        if (institution_add(e, index, c->inst.s) != 0) {
            return -1;
        }
        return wallet_add(e, &c->debit, (uint16_t)index, LEDGER_WALLET_TREASURY, 0);
    }
    case LEDGER_OP_WALLET_OPEN: return wallet_add(e, &c->id, c->actor, c->kind, c->mcc);
    case LEDGER_OP_HOLD_CREATE:
        d = wallet_find(e, &c->debit);
        cr = wallet_find(e, &c->credit);
        if (d && cr && d->inst != cr->inst) {
            struct store_clearing_hold h = {.id = c->id,
                                            .debit = c->debit,
                                            .credit = c->credit,
                                            .from = d->inst,
                                            .to = cr->inst,
                                            .mcc = cr->mcc,
                                            .amount = c->amount};
            return hold_add(e, &h);
        }
        return 0;
    default: return 0;
    }
}

/* The item a posted transfer or capture makes, if it clears between institutions. */
static bool item_of(const clearing_engine *e, const struct ledger_cmd *c, struct clearing_item *it)
{
    memset(it, 0, sizeof *it);
    if (c->op == LEDGER_OP_HOLD_CAPTURE) {
        const struct store_clearing_hold *h = hold_find(e, &c->id);
        if (!h) {
            return false; /* a hold within one institution */
        }
        it->id = c->id;
        it->debit = h->debit;
        it->credit = h->credit;
        it->amount = c->amount == 0 ? h->amount : c->amount;
        it->from = h->from;
        it->to = h->to;
        it->mcc = h->mcc;
        it->kind = LEDGER_KIND_PAYMENT;
        return true;
    }
    if (c->op != LEDGER_OP_TRANSFER || !clearing_kind_clears(c->kind)) {
        return false;
    }
    const struct wallet_entry *d = wallet_find(e, &c->debit);
    const struct wallet_entry *cr = wallet_find(e, &c->credit);
    if (!d || !cr || d->inst == cr->inst) {
        return false;
    }
    it->id = c->id;
    it->debit = c->debit;
    it->credit = c->credit;
    it->amount = c->amount;
    it->from = d->inst;
    it->to = cr->inst;
    it->kind = c->kind;
    /* The merchant's (biller's) side names the category: the credit of a payment or bill,
     * the debit of a refund; an adjustment takes whichever side is a merchant. */
    const struct wallet_entry *m = c->kind == LEDGER_KIND_REFUND ? d : cr;
    if (c->kind == LEDGER_KIND_ADJUSTMENT && cr->kind != LEDGER_WALLET_MERCHANT) {
        m = d;
    }
    it->mcc = m->mcc;
    return true;
}

static int scan_command(struct scan *s, const struct ledger_cmd *c, uint64_t pos)
{
    if (s->update_index && index_command(s, c) != 0) {
        return -1;
    }
    if (c->op == LEDGER_OP_NOTE) {
        if (c->kind == LEDGER_NOTE_CLEARING && c->holder_len == CLEARING_NOTE_CUTOFF_BYTES &&
            c->holder[0] == CLEARING_NOTE_CUTOFF && s->on_cutoff) {
            return s->on_cutoff(s, c, pos);
        }
        return 0;
    }
    struct clearing_item it;
    if (!item_of(s->e, c, &it)) {
        return 0;
    }
    it.pos = pos;
    it.timestamp = s->timestamp;
    return s->on_item(s, &it);
}

static int scan_group(void *arg, const struct ledger_cmd *cmds, const uint8_t *results, uint32_t n)
{
    struct scan *s = arg;
    for (uint32_t k = 0; k < n; k++, s->index++) {
        uint64_t pos = s->seq << 16 | s->index;
        if (pos <= s->from_pos) {
            continue;
        }
        if (pos >= s->to_pos) {
            return SCAN_STOP;
        }
        if (results[2 * k] != JZ_OK || (results[2 * k + 1] & COMMAND_REPLAYED_BIT)) {
            continue; /* refused commands and idempotent replays change nothing */
        }
        int rc = scan_command(s, &cmds[k], pos);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Walks records from the one holding from_pos + 1 up to record to_seq (or position to_pos). */
static int scan_journal(struct scan *s, uint64_t to_seq, char *err, size_t err_len)
{
    journal_reader *r = NULL;
    uint64_t first = s->from_pos >> 16;
    if (journal_reader_open(s->e->dir, first ? first : 1, &r, err, err_len) != 0) {
        return -1;
    }
    struct journal_record rec;
    int rc = 0;
    while (rc == 0) {
        int got = journal_reader_next(r, to_seq, &rec, err, err_len);
        if (got <= 0) {
            rc = got;
            break;
        }
        if (rec.type != JOURNAL_TYPE_BATCH) {
            continue;
        }
        s->seq = rec.seq;
        s->timestamp = rec.timestamp_ms;
        s->first_timestamp = s->first_timestamp ? s->first_timestamp : rec.timestamp_ms;
        s->index = 0;
        rc = command_payload_walk(rec.payload, rec.size, rec.count, s->e->scratch, scan_group, s);
        if (rc < 0) {
            snprintf(err, err_len, "clearing: journal record %" PRIu64 " could not be read",
                     rec.seq);
        }
    }
    journal_reader_close(r);
    return rc == SCAN_STOP ? 0 : rc;
}

/* ---- Re-deriving a closed cycle ---- */

struct collect {
    int inst;
    struct clearing_item *items;
    size_t n, cap;
};

static int collect_item(struct scan *s, const struct clearing_item *it)
{
    struct collect *c = s->ctx;
    if (c->inst >= 0 && it->from != c->inst && it->to != c->inst) {
        return 0;
    }
    if (grow((void **)&c->items, &c->cap, c->n + 1, sizeof *c->items) != 0) {
        return -1;
    }
    c->items[c->n++] = *it;
    return 0;
}

int clearing_engine_items(clearing_engine *e, const struct clearing_cycle_info *cy, int inst,
                          struct clearing_item **items, size_t *n, char *err, size_t err_len)
{
    struct collect c = {.inst = inst};
    struct scan s = {
        .e = e, .from_pos = cy->from_pos, .to_pos = cy->to_pos, .on_item = collect_item, .ctx = &c};
    if (scan_journal(&s, cy->to_pos >> 16, err, err_len) != 0) {
        free(c.items);
        return -1;
    }
    *items = c.items;
    *n = c.n;
    return 0;
}

/* ---- Closing cycles ---- */

struct catch_up {
    const crypto_sm2_key *key;
    struct clearing_net net;
    int64_t opened_at;  /* of the cycle being read */
    jz_id *adjustments; /* ids of the adjustment items of the cycle being read */
    size_t nadj, adj_cap;
    uint64_t closed;
    char *err;
    size_t err_len;
};

static int net_add(struct clearing_net *net, const struct clearing_schedule *s,
                   const struct clearing_item *it)
{
    uint32_t need = (it->from > it->to ? it->from : it->to) + 1u;
    if (need > net->n && clearing_net_grow(net, need) != 0) {
        return -1;
    }
    (void)clearing_net_add(net, s, it); /* an overflow marks the net: the cycle fails */
    return 0;
}

static int catch_item(struct scan *s, const struct clearing_item *it)
{
    struct catch_up *cu = s->ctx;
    if (it->kind == LEDGER_KIND_ADJUSTMENT) {
        if (grow((void **)&cu->adjustments, &cu->adj_cap, cu->nadj + 1, sizeof(jz_id)) != 0) {
            return -1;
        }
        cu->adjustments[cu->nadj++] = it->id;
    }
    return net_add(&cu->net, &s->e->fees, it);
}

/* The index learnt since the last close, made durable with the cycle. */
static int save_index(clearing_engine *e)
{
    for (uint32_t i = e->ninst_saved; i < e->ninst; i++) {
        if (store_clearing_put_institution(e->st, i, e->names[i]) != 0) {
            return -1;
        }
    }
    for (size_t i = e->wallets_saved; i < e->nwallets; i++) {
        const struct wallet_entry *w = &e->wallets[i];
        if (store_clearing_put_wallet(e->st, &w->id, w->inst, w->kind, w->mcc) != 0) {
            return -1;
        }
    }
    for (size_t i = e->holds_saved; i < e->nholds; i++) {
        if (store_clearing_put_hold(e->st, &e->holds[i]) != 0) {
            return -1;
        }
    }
    return 0;
}

static int put_signed(clearing_engine *e, const crypto_sm2_key *key, const char *doc_key,
                      const struct jbuf *b)
{
    uint8_t sig[CRYPTO_SM2_SIG_MAX];
    size_t sig_len = 0;
    if (b->failed || crypto_sm2_sign(key, b->p, b->len, sig, &sig_len) != 0) {
        return -1;
    }
    return store_clearing_put_doc(e->st, "file", doc_key, b->p, b->len, sig, sig_len);
}

/* The settlement files of every institution, and its line in the operators' cycle lists. */
static int save_files(clearing_engine *e, const struct clearing_cycle_info *cy,
                      const struct clearing_net *net, const struct clearing_schedule *sched,
                      const crypto_sm2_key *key)
{
    char k[128];
    for (uint32_t i = 0; i < e->ninst; i++) {
        struct jbuf b;
        struct clearing_position t;
        int rc = 0;
        if (cy->status == JZ_OK) {
            jb_init(&b);
            clearing_write_csv(cy, net, sched, e->name_ptrs, i, &b);
            snprintf(k, sizeof k, CLEARING_CYCLE_KEY_FMT "/%s.csv", (unsigned long long)cy->id,
                     e->names[i]);
            rc = put_signed(e, key, k, &b);
            jb_free(&b);
            jb_init(&b);
            clearing_write_json(cy, net, sched, e->name_ptrs, i, &b);
            snprintf(k, sizeof k, CLEARING_CYCLE_KEY_FMT "/%s.json", (unsigned long long)cy->id,
                     e->names[i]);
            rc |= put_signed(e, key, k, &b);
            jb_free(&b);
        }
        memset(&t, 0, sizeof t);
        if (cy->status == JZ_OK) {
            (void)clearing_net_total(net, i, &t);
        }
        jb_init(&b);
        jb_lit(&b, "{\"cycle\":");
        jb_uint(&b, cy->id);
        jb_lit(&b, ",\"opened_at\":");
        jb_int(&b, cy->opened_at);
        jb_lit(&b, ",\"closed_at\":");
        jb_int(&b, cy->closed_at);
        jb_lit(&b, ",\"trigger\":");
        jb_cstr(&b, clearing_trigger_name(cy->trigger));
        jb_lit(&b, ",\"status\":");
        jb_cstr(&b, cy->status == JZ_OK ? "settled" : "failed");
        jb_lit(&b, ",\"items\":");
        jb_uint(&b, t.pay_count + t.recv_count);
        jb_lit(&b, ",\"net\":");
        jb_int(&b, t.net);
        jb_lit(&b, "}");
        snprintf(k, sizeof k, "%s/" CLEARING_CYCLE_KEY_FMT, e->names[i],
                 (unsigned long long)cy->id);
        rc |= b.failed ? -1 : store_clearing_put_doc(e->st, "pos", k, b.p, b.len, NULL, 0);
        jb_free(&b);
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

static void write_info(const struct clearing_cycle_info *cy, const struct clearing_net *net,
                       struct jbuf *b)
{
    int64_t gross = 0;
    int64_t fees = 0;
    for (uint32_t i = 0; i < net->n && cy->status == JZ_OK; i++) {
        struct clearing_position t;
        (void)clearing_net_total(net, i, &t);
        gross += t.pay;
        fees += t.fees_pay;
    }
    jb_lit(b, "{");
    clearing_write_cycle_head(cy, b);
    jb_lit(b, ",\"items\":");
    jb_uint(b, net->items);
    jb_lit(b, ",\"gross\":");
    jb_int(b, gross);
    jb_lit(b, ",\"fees\":");
    jb_int(b, fees);
    jb_lit(b, "}");
}

static int save_cycle(clearing_engine *e, const struct clearing_cycle_info *cy,
                      const struct clearing_net *net, const struct clearing_schedule *sched,
                      const struct catch_up *cu)
{
    char k[64];
    char xk[40];
    struct jbuf info;
    struct jbuf doc;
    jb_init(&info);
    jb_init(&doc);
    write_info(cy, net, &info);
    clearing_write_cycle(cy, net, e->name_ptrs, &doc);
    snprintf(k, sizeof k, CLEARING_CYCLE_KEY_FMT, (unsigned long long)cy->id);
    int rc = info.failed || doc.failed ? -1 : 0;
    rc |= store_clearing_put_doc(e->st, "cinfo", k, info.p, info.len, NULL, 0);
    rc |= store_clearing_put_doc(e->st, "cycle", k, doc.p, doc.len, NULL, 0);
    jb_free(&info);
    jb_free(&doc);
    for (size_t i = 0; rc == 0 && i < cu->nadj; i++) {
        jz_id_to_hex(&cu->adjustments[i], xk);
        rc = store_clearing_put_doc(e->st, "xcycle", xk, k, strlen(k), NULL, 0);
    }
    if (rc == 0) {
        rc = save_index(e) | save_files(e, cy, net, sched, cu->key);
    }
    rc |= store_clearing_set_int(e->st, "position", (int64_t)cy->to_pos);
    rc |= store_clearing_set_int(e->st, "last_cycle", (int64_t)cy->id);
    rc |= store_clearing_set_int(e->st, "last_closed_at", cy->closed_at);
    rc |= store_clearing_set_int(e->st, "pending_cutoff", 0);
    return rc;
}

/* A cycle read with another schedule than the note names is read again with that one. */
struct rederive {
    struct clearing_schedule sched;
    struct clearing_net net;
};

static int rederive_add(struct scan *s, const struct clearing_item *it)
{
    struct rederive *r = s->ctx;
    return net_add(&r->net, &r->sched, it);
}

static int close_cycle(struct scan *s, const struct ledger_cmd *c, uint64_t pos)
{
    clearing_engine *e = s->e;
    struct catch_up *cu = s->ctx;
    struct clearing_cycle_info cy = {.id = e->last_cycle + 1,
                                     .from_pos = e->position,
                                     .to_pos = pos,
                                     .opened_at = cu->opened_at,
                                     .closed_at = s->timestamp,
                                     .trigger = c->holder[1]};
    memcpy(cy.schedule_sm3, c->holder + 2, 32);
    if (cy.opened_at == 0) {
        cy.opened_at = s->first_timestamp; /* the first cycle opens with the journal */
    }
    struct rederive *r = NULL;
    struct clearing_net *net = &cu->net;
    const struct clearing_schedule *sched = &e->fees;
    int rc = 0;
    if (memcmp(cy.schedule_sm3, e->fees_sm3, 32) != 0) {
        r = calloc(1, sizeof *r);
        if (!r || clearing_engine_schedule(e, cy.schedule_sm3, &r->sched) != 0 ||
            clearing_net_init(&r->net, e->ninst ? e->ninst : 1, r->sched.nfees) != 0) {
            snprintf(cu->err, cu->err_len,
                     "clearing: the fee schedule of the cut-off at journal"
                     " record %" PRIu64 " is not in clearing.db",
                     s->seq);
            free(r);
            return -1;
        }
        struct scan again = {.e = e,
                             .from_pos = cy.from_pos,
                             .to_pos = cy.to_pos,
                             .on_item = rederive_add,
                             .ctx = r};
        rc = scan_journal(&again, pos >> 16, cu->err, cu->err_len);
        net = &r->net;
        sched = &r->sched;
    }
    if (rc == 0 && e->ninst > net->n) {
        rc = clearing_net_grow(net, e->ninst);
    }
    cy.status = net->overflow ? JZ_OVERFLOW : JZ_OK;
    cy.items = net->items;
    if (rc == 0 && cy.status == JZ_OK) {
        /* Netting is antisymmetric: the positions of a settled cycle sum to zero. */
        int64_t sum = 0;
        for (uint32_t i = 0; i < net->n; i++) {
            struct clearing_position t;
            ASSERT(clearing_net_total(net, i, &t) == 0);
            sum += t.net;
        }
        ASSERT(sum == 0);
    }
    if (rc == 0 && store_clearing_begin(e->st) == 0) {
        rc = save_cycle(e, &cy, net, sched, cu);
        if (rc == 0 && store_clearing_commit(e->st) == 0) {
            e->position = pos;
            e->last_cycle = cy.id;
            e->last_closed_at = cy.closed_at;
            e->pending = false;
            e->wallets_saved = e->nwallets;
            e->holds_saved = e->nholds;
            e->ninst_saved = e->ninst;
            cu->closed++;
        } else {
            store_clearing_rollback(e->st);
            snprintf(cu->err, cu->err_len, "clearing: cannot store cycle %" PRIu64, cy.id);
            rc = -1;
        }
    } else if (rc == 0) {
        snprintf(cu->err, cu->err_len, "clearing: cannot begin a clearing.db transaction");
        rc = -1;
    }
    if (r) {
        clearing_net_free(&r->net);
        free(r);
    }
    /* The next cycle starts empty, right after this note. */
    memset(cu->net.gross, 0, (size_t)cu->net.n * cu->net.n * sizeof *cu->net.gross);
    memset(cu->net.count, 0, (size_t)cu->net.n * cu->net.n * sizeof *cu->net.count);
    size_t fee_cells = (size_t)cu->net.n * cu->net.n * (cu->net.nfees ? cu->net.nfees : 1);
    memset(cu->net.fees, 0, fee_cells * sizeof *cu->net.fees);
    memset(cu->net.fee_count, 0, fee_cells * sizeof *cu->net.fee_count);
    memset(cu->net.kind_count, 0, sizeof cu->net.kind_count);
    cu->net.items = 0;
    cu->net.overflow = false;
    cu->nadj = 0;
    cu->opened_at = s->timestamp;
    return rc;
}

int clearing_engine_catch_up(clearing_engine *e, uint64_t to_seq, const crypto_sm2_key *key,
                             uint64_t *closed, char *err, size_t err_len)
{
    struct catch_up cu = {
        .key = key, .opened_at = e->last_closed_at, .err = err, .err_len = err_len};
    *closed = 0;
    if (clearing_net_init(&cu.net, e->ninst ? e->ninst : 1, e->fees.nfees) != 0) {
        snprintf(err, err_len, "clearing: out of memory");
        return -1;
    }
    struct scan s = {.e = e,
                     .from_pos = e->position,
                     .to_pos = UINT64_MAX,
                     .update_index = true,
                     .on_item = catch_item,
                     .on_cutoff = close_cycle,
                     .ctx = &cu};
    int rc = scan_journal(&s, to_seq, err, err_len);
    *closed = cu.closed;
    clearing_net_free(&cu.net);
    free(cu.adjustments);
    return rc;
}

/* ---- Reading closed cycles ---- */

int clearing_engine_cycle_info(clearing_engine *e, uint64_t id, struct clearing_cycle_info *out)
{
    char k[32];
    char *body = NULL;
    size_t len = 0;
    snprintf(k, sizeof k, CLEARING_CYCLE_KEY_FMT, (unsigned long long)id);
    int rc = store_clearing_get_doc(e->st, "cinfo", k, &body, &len, NULL, NULL);
    if (rc != 0) {
        return rc;
    }
    struct api_error err;
    json_t *root = json_parse_body(body, len, &err);
    int64_t v[8] = {0};
    int64_t ignored = 0;
    int trigger = 0;
    int status = 0;
    char hex[65] = "";
    static const char *const triggers[] = {"demand", "scheduled", NULL};
    static const char *const statuses[] = {"settled", "failed", NULL};
    const struct field_spec specs[] = {
        {.name = "cycle", .type = FIELD_INT, .required = true, .out = &v[0], .max = INT64_MAX},
        {.name = "from", .type = FIELD_INT, .required = true, .out = &v[1], .max = INT64_MAX},
        {.name = "to", .type = FIELD_INT, .required = true, .out = &v[2], .max = INT64_MAX},
        {.name = "opened_at",
         .type = FIELD_INT,
         .required = true,
         .out = &v[3],
         .min = INT64_MIN,
         .max = INT64_MAX},
        {.name = "closed_at",
         .type = FIELD_INT,
         .required = true,
         .out = &v[4],
         .min = INT64_MIN,
         .max = INT64_MAX},
        {.name = "trigger",
         .type = FIELD_ENUM,
         .required = true,
         .out = &trigger,
         .choices = triggers},
        {.name = "schedule",
         .type = FIELD_STRING,
         .required = true,
         .out = hex,
         .min = 64,
         .max = 64},
        {.name = "status",
         .type = FIELD_ENUM,
         .required = true,
         .out = &status,
         .choices = statuses},
        {.name = "items", .type = FIELD_INT, .required = true, .out = &v[7], .max = INT64_MAX},
        {.name = "gross", .type = FIELD_INT, .out = &ignored, .max = INT64_MAX},
        {.name = "fees", .type = FIELD_INT, .out = &ignored, .max = INT64_MAX},
    };
    rc = !root || json_fields_parse(root, specs, JZ_ARRAY_LEN(specs), "", &err) != 0 ||
                 jz_hex_decode(hex, 64, out->schedule_sm3, 32) != 0
             ? -1
             : 0;
    json_decref(root);
    free(body);
    if (rc == 0) {
        out->id = (uint64_t)v[0];
        out->from_pos = (uint64_t)v[1];
        out->to_pos = (uint64_t)v[2];
        out->opened_at = v[3];
        out->closed_at = v[4];
        out->trigger = (uint8_t)trigger; /* the choices are in CLEARING_TRIGGER_* order */
        out->status = status == 1 ? JZ_OK : JZ_OVERFLOW;
        out->items = (uint64_t)v[7];
    }
    return rc;
}

static int make_items_file(clearing_engine *e, const struct clearing_cycle_info *cy, uint32_t inst,
                           const crypto_sm2_key *key, const char *doc_key, char *err,
                           size_t err_len)
{
    struct clearing_schedule *sched = malloc(sizeof *sched);
    struct clearing_item *items = NULL;
    size_t n = 0;
    int rc = -1;
    if (!sched || clearing_engine_schedule(e, cy->schedule_sm3, sched) != 0) {
        snprintf(err, err_len, "clearing: the cycle's fee schedule is not in clearing.db");
    } else if (clearing_engine_items(e, cy, (int)inst, &items, &n, err, err_len) == 0) {
        struct jbuf b;
        jb_init(&b);
        clearing_write_items_csv(cy, sched, e->name_ptrs, inst, items, n, &b);
        rc = put_signed(e, key, doc_key, &b);
        if (rc != 0) {
            snprintf(err, err_len, "clearing: cannot sign or store %s", doc_key);
        }
        jb_free(&b);
    }
    free(items);
    free(sched);
    return rc;
}

int clearing_engine_file(clearing_engine *e, uint64_t cycle, uint32_t inst, const char *ext,
                         const crypto_sm2_key *key, char **body, size_t *len, uint8_t **sig,
                         size_t *sig_len, char *err, size_t err_len)
{
    char k[128];
    if (inst >= e->ninst) {
        return 1;
    }
    snprintf(k, sizeof k, CLEARING_CYCLE_KEY_FMT "/%s.%s", (unsigned long long)cycle,
             e->names[inst], ext);
    int rc = store_clearing_get_doc(e->st, "file", k, body, len, sig, sig_len);
    if (rc != 1 || strcmp(ext, "items.csv") != 0) {
        if (rc < 0) {
            snprintf(err, err_len, "clearing: cannot read clearing.db");
        }
        return rc;
    }
    struct clearing_cycle_info cy;
    rc = clearing_engine_cycle_info(e, cycle, &cy);
    if (rc != 0 || cy.status != JZ_OK) {
        return rc < 0 ? -1 : 1;
    }
    if (make_items_file(e, &cy, inst, key, k, err, err_len) != 0) {
        return -1;
    }
    return store_clearing_get_doc(e->st, "file", k, body, len, sig, sig_len);
}
