/*
 * aml.c: the detectors (see aml.h).
 *
 * State is one fixed-size record per wallet (about 300 bytes), found through an
 * open-addressing index, plus a ring of the most recent transfers that chains each wallet's
 * outgoing and incoming transfers (for evidence). Times are kept in seconds since
 * 2020-01-01 (AML_EPOCH_MS) in 32 bits, which lasts until 2156.
 */
#include "aml.h"

#include <math.h>

#include "idmap.h"

#define AML_EPOCH_MS 1577836800000LL
#define EDGES 3         /* recent large incoming transfers kept per wallet (cycles) */
#define WALK_MAX 64     /* evidence: transfers looked at per finding */
#define SKETCH_BITS 128

struct edge {
    uint32_t from; /* entry + 1 */
    uint32_t ts;
    int64_t amount;
    uint32_t ev;   /* ring position of the transfer */
};

/* Two half windows: `epoch` numbers the current half (time / half window). */
struct halves_sketch {
    uint32_t epoch;
    uint64_t cur[2], prev[2];
};

struct wal {
    jz_id id;
    uint32_t parent; /* entry + 1, 0 = none */
    uint8_t kind;
    uint32_t last_active;
    uint32_t woke;   /* when it woke from dormancy (0 = not awake) */
    int64_t woke_in, woke_out;
    uint32_t last_out, last_in; /* ring positions heading its chains */
    struct halves_sketch fan_in, fan_out;
    uint32_t rapid_epoch;
    int64_t rapid_in[2], rapid_out[2];   /* [0] current half, [1] previous */
    uint32_t struct_epoch;
    uint16_t struct_out[2], struct_in[2];
    uint32_t quiet_until[AML_DETECTORS + 1];
    int32_t day;
    int64_t day_in, day_out;
    uint32_t day_in_n, day_out_n;
    struct edge edges[EDGES];
};

struct ev {
    jz_id id;
    int64_t amount;
    uint32_t ts, pos;
    uint32_t debit, credit;     /* entry + 1, 0 = untracked */
    uint32_t prev_out, prev_in; /* the debit's previous outgoing, the credit's previous incoming */
};

struct aml {
    struct aml_sink sink;
    struct risk_aml_params p;
    int64_t large_value_fen;
    uint32_t wallets_max, nwallets;
    struct wal *w;
    struct idmap index; /* wallet id -> entry + 1 (uint32_t) */
    struct ev *ring;
    uint32_t ring_mask;
    uint32_t head; /* position of the newest transfer (0 = none) */
    uint32_t lc[SKETCH_BITS + 1]; /* linear counting: distinct estimate by zero bits */
    uint64_t transfers, untracked;
    uint64_t findings[AML_DETECTORS + 1];
};

aml *aml_new(uint32_t wallets_max, uint32_t evidence_ring, const struct aml_sink *sink)
{
    aml *a = calloc(1, sizeof *a);
    if (!a) {
        return NULL;
    }
    a->sink = *sink;
    a->wallets_max = wallets_max;
    a->w = idmap_table_alloc((size_t)wallets_max * sizeof *a->w);
    int irc = idmap_init(&a->index, wallets_max, sizeof(uint32_t));
    uint32_t ring = idmap_pow2(evidence_ring);
    a->ring = idmap_table_alloc((size_t)ring * sizeof *a->ring);
    a->ring_mask = ring - 1;
    if (!a->w || irc != 0 || !a->ring) {
        aml_free(a);
        return NULL;
    }
    for (int z = 0; z <= SKETCH_BITS; z++) {
        /* n = -m ln(z/m); all bits set reads as the largest value the sketch can tell. */
        double n = z == 0 ? SKETCH_BITS * log((double)SKETCH_BITS)
                          : -SKETCH_BITS * log((double)z / SKETCH_BITS);
        a->lc[z] = (uint32_t)(n + 0.5);
    }
    struct risk_params d;
    risk_params_default(&d);
    aml_set_params(a, &d.aml, d.large_value_fen);
    return a;
}

void aml_free(aml *a)
{
    if (!a) {
        return;
    }
    idmap_table_free(a->w, (size_t)a->wallets_max * sizeof *a->w);
    idmap_destroy(&a->index);
    idmap_table_free(a->ring, (size_t)(a->ring_mask + 1) * sizeof *a->ring);
    free(a);
}

void aml_set_params(aml *a, const struct risk_aml_params *p, int64_t large_value_fen)
{
    a->p = *p;
    a->large_value_fen = large_value_fen;
}

static uint32_t secs(int64_t ms)
{
    int64_t s = (ms - AML_EPOCH_MS) / 1000;
    return s < 1 ? 1 : s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* Sums of amounts saturate: a total past INT64_MAX reads as INT64_MAX, still over every
 * threshold, never negative. */
static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    return jz_add_overflows(a, b, &r) ? INT64_MAX : r;
}

/* ---- Wallets ---- */

/* Entry + 1 of id, creating it (of unknown kind) when asked; 0 when absent or full. */
static uint32_t lookup(aml *a, const jz_id *id, bool create, int64_t ts)
{
    const uint32_t *found = idmap_get(&a->index, id);
    if (found) {
        return *found;
    }
    if (!create || a->nwallets == a->wallets_max) {
        return 0;
    }
    uint32_t *slot = idmap_put(&a->index, id);
    ASSERT(slot != NULL); /* sized for wallets_max */
    struct wal *w = &a->w[a->nwallets];
    memset(w, 0, sizeof *w);
    w->id = *id;
    w->last_active = secs(ts);
    w->day = INT32_MIN;
    *slot = ++a->nwallets;
    return *slot;
}

void aml_prefetch(const aml *a, const jz_id *wallet, int stage)
{
    if (stage == 1) {
        idmap_prefetch(&a->index, wallet);
        return;
    }
    const uint32_t *e = idmap_get(&a->index, wallet);
    if (e) {
        const char *w = (const char *)&a->w[*e - 1];
        __builtin_prefetch(w);
        __builtin_prefetch(w + 64);
        __builtin_prefetch(w + 128);
        __builtin_prefetch(w + 192);
    }
}

void aml_wallet(aml *a, const jz_id *id, uint8_t kind, const jz_id *parent, int64_t created_at)
{
    uint32_t e = lookup(a, id, true, created_at);
    if (e == 0) {
        return;
    }
    a->w[e - 1].kind = kind;
    if (parent && !jz_id_is_zero(parent)) {
        a->w[e - 1].parent = lookup(a, parent, false, created_at);
    }
}

/* ---- Helpers ---- */

/* Moves half-window state to epoch e: returns 0 (same), 1 (one half on) or 2 (further). */
static int roll(uint32_t *epoch, uint32_t e)
{
    if (*epoch == e) {
        return 0;
    }
    int r = *epoch + 1 == e ? 1 : 2;
    *epoch = e;
    return r;
}

static uint32_t half_s(int64_t window_ms)
{
    int64_t h = window_ms / 2000;
    return h < 1 ? 1 : (uint32_t)h;
}

/* Adds a counterparty to the sketch of the current half window; returns the distinct count
 * estimated over both halves, or 0 when the counterparty changed nothing (seen already). */
static uint32_t sketch_add(aml *a, struct halves_sketch *s, uint32_t e, const jz_id *other)
{
    int r = roll(&s->epoch, e);
    for (int k = 0; k < 2 && r; k++) {
        s->prev[k] = r == 1 ? s->cur[k] : 0;
        s->cur[k] = 0;
    }
    uint32_t bit = (uint32_t)(jz_id_hash(other) >> 7) % SKETCH_BITS;
    uint64_t mask = 1ull << (bit % 64);
    if ((s->cur[bit / 64] | s->prev[bit / 64]) & mask) {
        s->cur[bit / 64] |= mask;
        return 0;
    }
    s->cur[bit / 64] |= mask;
    int ones = 0;
    for (int k = 0; k < 2; k++) {
        ones += __builtin_popcountll(s->cur[k] | s->prev[k]);
    }
    return a->lc[SKETCH_BITS - ones];
}

static bool quiet(const struct wal *w, int det, uint32_t now)
{
    return now < w->quiet_until[det];
}

static bool ring_valid(const aml *a, uint32_t pos)
{
    return pos != 0 && a->head - pos <= a->ring_mask && a->ring[pos & a->ring_mask].pos == pos;
}

/* What a walk keeps: transfers of the chain newer than `since` that pass `keep`. */
struct walk {
    uint32_t entry; /* the subject, + 1 */
    uint32_t since;
    int64_t lo, hi; /* amount range kept, [lo, hi) */
    int side;       /* 1 out, 2 in, 3 both */
};

/* Adds the subject's matching transfers, newest first, to f's evidence. Returns false when
 * the walk stopped before the window's start (ring overwritten, or WALK_MAX reached). */
static bool collect(aml *a, const struct walk *wk, struct aml_finding *f)
{
    const struct wal *w = &a->w[wk->entry - 1];
    uint32_t out = wk->side & 1 ? w->last_out : 0;
    uint32_t in = wk->side & 2 ? w->last_in : 0;
    for (int steps = 0; steps < WALK_MAX; steps++) {
        bool vo = ring_valid(a, out);
        bool vi = ring_valid(a, in);
        if (!vo && !vi) {
            return out == 0 && in == 0;
        }
        /* Take the newer of the two chains' heads. */
        bool take_out = vo && (!vi || out > in);
        const struct ev *r = &a->ring[(take_out ? out : in) & a->ring_mask];
        if (r->ts < wk->since) {
            return true;
        }
        if (r->amount >= wk->lo && r->amount < wk->hi && f->nevidence < AML_EVIDENCE_MAX) {
            f->evidence[f->nevidence++] = r->id;
        }
        if (take_out) {
            out = r->prev_out;
        } else {
            in = r->prev_in;
        }
    }
    return false;
}

static void emit(aml *a, struct wal *w, int det, uint32_t quiet_s, struct aml_finding *f,
                 const struct aml_transfer *t)
{
    f->detector = (uint8_t)det;
    f->subject = w->id;
    f->trigger = t->id;
    f->ts = t->ts;
    w->quiet_until[det] = secs(t->ts) + quiet_s;
    a->findings[det]++;
    a->sink.finding(a->sink.ctx, f);
}

static void finish_params(struct aml_finding *f, bool complete)
{
    size_t n = strlen(f->params);
    snprintf(f->params + n, sizeof f->params - n, " evidence=%s", complete ? "complete" : "partial");
}

/* ---- Detectors ---- */

static void structuring(aml *a, uint32_t e, bool out, const struct aml_transfer *t, uint32_t now)
{
    const struct risk_aml_params *p = &a->p;
    int64_t lo = p->structuring_threshold_fen - p->structuring_threshold_fen *
                                                    p->structuring_band_pct / 100;
    if (t->amount < lo || t->amount >= p->structuring_threshold_fen) {
        return;
    }
    struct wal *w = &a->w[e - 1];
    uint32_t h = half_s(p->structuring_window_ms);
    int r = roll(&w->struct_epoch, now / h);
    if (r) {
        w->struct_out[1] = r == 1 ? w->struct_out[0] : 0;
        w->struct_in[1] = r == 1 ? w->struct_in[0] : 0;
        w->struct_out[0] = w->struct_in[0] = 0;
    }
    uint16_t *c = out ? w->struct_out : w->struct_in;
    c[0] += c[0] < UINT16_MAX;
    uint32_t n = (uint32_t)c[0] + c[1];
    if (n < p->structuring_count || quiet(w, AML_STRUCTURING, now)) {
        return;
    }
    struct aml_finding f = {.severity = n >= 2 * p->structuring_count ? 3 : 2};
    snprintf(f.params, sizeof f.params,
             "side=%s count=%u min_count=%lld threshold_fen=%lld band_pct=%lld window_s=%lld",
             out ? "out" : "in", n, (long long)p->structuring_count,
             (long long)p->structuring_threshold_fen, (long long)p->structuring_band_pct,
             (long long)(p->structuring_window_ms / 1000));
    struct walk wk = {e, now - 2 * h, lo, p->structuring_threshold_fen, out ? 1 : 2};
    finish_params(&f, collect(a, &wk, &f));
    emit(a, w, AML_STRUCTURING, 2 * h, &f, t);
}

static void rapid(aml *a, uint32_t e, bool out, const struct aml_transfer *t, uint32_t now)
{
    const struct risk_aml_params *p = &a->p;
    struct wal *w = &a->w[e - 1];
    uint32_t h = half_s(p->rapid_window_ms);
    int r = roll(&w->rapid_epoch, now / h);
    if (r) {
        w->rapid_in[1] = r == 1 ? w->rapid_in[0] : 0;
        w->rapid_out[1] = r == 1 ? w->rapid_out[0] : 0;
        w->rapid_in[0] = w->rapid_out[0] = 0;
    }
    if (out && t->kind == LEDGER_KIND_DISBURSEMENT) {
        return; /* a payroll is not money passed through */
    }
    int64_t *acc = &(out ? w->rapid_out : w->rapid_in)[0];
    *acc = sat_add(*acc, t->amount);
    int64_t in = w->rapid_in[0] + w->rapid_in[1];
    int64_t sent = w->rapid_out[0] + w->rapid_out[1];
    /* Only an outgoing transfer completes the pattern: money in, then on. */
    if (!out || in < p->rapid_min_in_fen ||
        (__int128)sent * 100 < (__int128)in * p->rapid_out_pct || quiet(w, AML_RAPID_IN_OUT, now)) {
        return;
    }
    struct aml_finding f = {.severity = in >= 10 * p->rapid_min_in_fen ? 3 : 2};
    snprintf(f.params, sizeof f.params,
             "in_fen=%lld out_fen=%lld min_in_fen=%lld out_pct=%lld window_s=%lld",
             (long long)in, (long long)sent, (long long)p->rapid_min_in_fen,
             (long long)p->rapid_out_pct, (long long)(p->rapid_window_ms / 1000));
    struct walk wk = {e, now - 2 * h, 0, INT64_MAX, 3};
    finish_params(&f, collect(a, &wk, &f));
    emit(a, w, AML_RAPID_IN_OUT, 2 * h, &f, t);
}

static void fan(aml *a, uint32_t e, bool out, const jz_id *other, const struct aml_transfer *t,
                uint32_t now)
{
    const struct risk_aml_params *p = &a->p;
    struct wal *w = &a->w[e - 1];
    int det = out ? AML_FAN_OUT : AML_FAN_IN;
    int64_t window = out ? p->fan_out_window_ms : p->fan_in_window_ms;
    int64_t need = out ? p->fan_out_count : p->fan_in_count;
    uint32_t h = half_s(window);
    uint32_t distinct = sketch_add(a, out ? &w->fan_out : &w->fan_in, now / h, other);
    if (distinct < need || quiet(w, det, now)) {
        return;
    }
    struct aml_finding f = {.severity = distinct >= 2 * need ? 3 : 2};
    snprintf(f.params, sizeof f.params,
             "distinct=%u min_distinct=%lld min_fen=%lld window_s=%lld", distinct,
             (long long)need, (long long)p->fan_min_fen, (long long)(window / 1000));
    struct walk wk = {e, now - 2 * h, p->fan_min_fen, INT64_MAX, out ? 1 : 2};
    finish_params(&f, collect(a, &wk, &f));
    emit(a, w, det, 2 * h, &f, t);
}

/* Called for each side of a transfer before last_active moves on. A disbursement (a
 * payroll) does not count: it is declared for what it is. */
static void dormant(aml *a, uint32_t e, bool out, const struct aml_transfer *t, uint32_t now)
{
    const struct risk_aml_params *p = &a->p;
    struct wal *w = &a->w[e - 1];
    uint32_t idle_s = (uint32_t)(p->dormant_idle_ms / 1000);
    uint32_t window_s = (uint32_t)(p->dormant_window_ms / 1000);
    if (now >= w->last_active && now - w->last_active >= idle_s) {
        w->woke = now;
        w->woke_in = w->woke_out = 0;
    }
    if (w->woke == 0 || now - w->woke > window_s) {
        w->woke = 0;
        return;
    }
    if (t->kind == LEDGER_KIND_DISBURSEMENT) {
        return;
    }
    int64_t *acc = out ? &w->woke_out : &w->woke_in;
    *acc = sat_add(*acc, t->amount);
    if (*acc < p->dormant_min_fen || quiet(w, AML_DORMANT, now)) {
        return;
    }
    struct aml_finding f = {.severity = *acc >= 10 * p->dormant_min_fen ? 3 : 2};
    snprintf(f.params, sizeof f.params,
             "in_fen=%lld out_fen=%lld min_fen=%lld idle_s=%u woke_at_s=%u window_s=%u",
             (long long)w->woke_in, (long long)w->woke_out, (long long)p->dormant_min_fen,
             idle_s, w->woke, window_s);
    struct walk wk = {e, w->woke, 0, INT64_MAX, 3};
    finish_params(&f, collect(a, &wk, &f));
    w->woke = 0;
    emit(a, w, AML_DORMANT, window_s, &f, t);
}

/* ---- Circular flows ---- */

struct cycle {
    uint32_t len;
    const struct edge *legs[3]; /* the legs before the closing transfer, oldest first */
};

static bool amounts_close(const aml *a, const struct cycle *c, int64_t closing)
{
    int64_t lo = closing;
    int64_t hi = closing;
    for (uint32_t i = 0; i < c->len - 1; i++) {
        lo = c->legs[i]->amount < lo ? c->legs[i]->amount : lo;
        hi = c->legs[i]->amount > hi ? c->legs[i]->amount : hi;
    }
    return (__int128)hi * 100 <= (__int128)lo * a->p.circular_ratio_pct;
}

static bool edge_ok(const struct edge *e, uint32_t not_after, uint32_t since)
{
    return e->from != 0 && e->ts <= not_after && e->ts >= since;
}

/* Looks for a cycle closed by x -> y: y -> ... -> x through recorded edges. */
static bool find_cycle(aml *a, uint32_t x, uint32_t y, int64_t amount, uint32_t now,
                       uint32_t since, struct cycle *c)
{
    const struct wal *wx = &a->w[x - 1];
    for (int i = 0; i < EDGES; i++) {
        const struct edge *e2 = &wx->edges[i]; /* w -> x */
        uint32_t wv = e2->from;
        if (!edge_ok(e2, now, since) || wv == y || wv == x) {
            continue;
        }
        const struct wal *ww = &a->w[wv - 1];
        for (int k = 0; k < EDGES; k++) {
            const struct edge *e1 = &ww->edges[k]; /* ? -> w */
            if (!edge_ok(e1, e2->ts, since)) {
                continue;
            }
            *c = (struct cycle){.len = 3, .legs = {e1, e2}};
            if (e1->from == y && amounts_close(a, c, amount)) {
                return true;
            }
            uint32_t v = e1->from;
            if (v == x || v == y || v == wv) {
                continue;
            }
            const struct wal *wvv = &a->w[v - 1];
            for (int m = 0; m < EDGES; m++) {
                const struct edge *e0 = &wvv->edges[m]; /* y -> v ? */
                *c = (struct cycle){.len = 4, .legs = {e0, e1, e2}};
                if (e0->from == y && edge_ok(e0, e1->ts, since) && amounts_close(a, c, amount)) {
                    return true;
                }
            }
        }
    }
    return false;
}

static void circular(aml *a, uint32_t x, uint32_t y, uint32_t pos, const struct aml_transfer *t,
                     uint32_t now)
{
    const struct risk_aml_params *p = &a->p;
    if (t->amount < p->circular_min_fen) {
        return;
    }
    uint32_t window_s = (uint32_t)(p->circular_window_ms / 1000);
    uint32_t since = now > window_s ? now - window_s : 0;
    struct cycle c;
    struct wal *wy = &a->w[y - 1];
    if (find_cycle(a, x, y, t->amount, now, since, &c) && !quiet(wy, AML_CIRCULAR, now)) {
        struct aml_finding f = {.severity = 3};
        int64_t total = t->amount;
        bool complete = ring_valid(a, pos);
        for (uint32_t i = 0; i < c.len - 1; i++) {
            total += c.legs[i]->amount;
            complete = complete && ring_valid(a, c.legs[i]->ev);
            if (ring_valid(a, c.legs[i]->ev)) {
                f.evidence[f.nevidence++] = a->ring[c.legs[i]->ev & a->ring_mask].id;
            }
        }
        f.evidence[f.nevidence++] = t->id;
        snprintf(f.params, sizeof f.params,
                 "legs=%u total_fen=%lld min_fen=%lld ratio_pct=%lld window_s=%u", c.len,
                 (long long)total, (long long)p->circular_min_fen,
                 (long long)p->circular_ratio_pct, window_s);
        finish_params(&f, complete);
        emit(a, wy, AML_CIRCULAR, window_s, &f, t);
    }
    /* Record x -> y among y's recent large incoming transfers (replacing the oldest). */
    int oldest = 0;
    for (int i = 1; i < EDGES; i++) {
        oldest = wy->edges[i].ts < wy->edges[oldest].ts ? i : oldest;
    }
    wy->edges[oldest] = (struct edge){.from = x, .ts = now, .amount = t->amount, .ev = pos};
}

/* ---- Large-value day totals ---- */

static void day_total(aml *a, uint32_t e, bool out, const struct aml_transfer *t)
{
    struct wal *w = &a->w[e - 1];
    if (w->parent) {
        w = &a->w[w->parent - 1]; /* a child wallet's money is its holder's */
    }
    int32_t day = ledger_day_of(t->ts);
    if (w->day != day) {
        w->day = day;
        w->day_in = w->day_out = 0;
        w->day_in_n = w->day_out_n = 0;
    }
    if (out) {
        w->day_out = sat_add(w->day_out, t->amount);
        w->day_out_n++;
    } else {
        w->day_in = sat_add(w->day_in, t->amount);
        w->day_in_n++;
    }
    if (a->sink.day_total && (w->day_in >= a->large_value_fen || w->day_out >= a->large_value_fen)) {
        struct aml_day_total d = {.holder = w->id, .day = day, .in_fen = w->day_in,
                                  .out_fen = w->day_out, .in_count = w->day_in_n,
                                  .out_count = w->day_out_n, .last_ts = t->ts};
        a->sink.day_total(a->sink.ctx, &d);
    }
}

/* ---- The stream ---- */

static uint32_t push_evidence(aml *a, const struct aml_transfer *t, uint32_t d, uint32_t c,
                              uint32_t now)
{
    uint32_t pos = ++a->head;
    if (pos == 0) {
        pos = ++a->head; /* 0 means "none" */
    }
    struct ev *r = &a->ring[pos & a->ring_mask];
    *r = (struct ev){.id = t->id, .amount = t->amount, .ts = now, .pos = pos, .debit = d,
                     .credit = c};
    if (d) {
        r->prev_out = a->w[d - 1].last_out;
        a->w[d - 1].last_out = pos;
    }
    if (c) {
        r->prev_in = a->w[c - 1].last_in;
        a->w[c - 1].last_in = pos;
    }
    return pos;
}

static bool fan_out_kind(uint8_t kind)
{
    return kind != LEDGER_KIND_DISBURSEMENT && kind != LEDGER_KIND_CAMPAIGN &&
           kind != LEDGER_KIND_REFUND && kind != LEDGER_KIND_EXCHANGE_OUT;
}

/* The detectors of one side of a transfer: e is the wallet, other the counterparty. */
static void side(aml *a, uint32_t e, uint32_t other, bool out, const struct aml_transfer *t,
                 uint32_t now)
{
    struct wal *w = &a->w[e - 1];
    uint8_t other_kind = other ? a->w[other - 1].kind : 0;
    day_total(a, e, out, t);
    dormant(a, e, out, t, now);
    structuring(a, e, out, t, now);
    rapid(a, e, out, t, now);
    bool fan_ok = other_kind != LEDGER_WALLET_TREASURY && t->amount >= a->p.fan_min_fen;
    if (out && fan_ok && fan_out_kind(t->kind)) {
        fan(a, e, true, &t->credit, t, now);
    } else if (!out && fan_ok && w->kind != LEDGER_WALLET_MERCHANT && t->kind != LEDGER_KIND_REFUND) {
        fan(a, e, false, &t->debit, t, now);
    }
    if (now > w->last_active) {
        w->last_active = now;
    }
}

void aml_transfer(aml *a, const struct aml_transfer *t)
{
    if (t->kind == LEDGER_KIND_ISSUE || t->kind == LEDGER_KIND_REDEEM) {
        return;
    }
    a->transfers++;
    uint32_t now = secs(t->ts);
    uint32_t d = lookup(a, &t->debit, true, t->ts);
    uint32_t c = lookup(a, &t->credit, true, t->ts);
    if (!d || !c) {
        a->untracked++;
    }
    uint32_t pos = push_evidence(a, t, d, c, now);
    bool dt = d && a->w[d - 1].kind == LEDGER_WALLET_TREASURY;
    bool ct = c && a->w[c - 1].kind == LEDGER_WALLET_TREASURY;
    if (d && !dt) {
        side(a, d, c, true, t, now);
    }
    if (c && !ct) {
        side(a, c, d, false, t, now);
    }
    if (d && c && !dt && !ct && d != c) {
        circular(a, d, c, pos, t, now);
    }
    ASSERT(a->nwallets <= a->wallets_max);
}

void aml_get_stats(const aml *a, struct aml_stats *out)
{
    memset(out, 0, sizeof *out);
    out->transfers = a->transfers;
    memcpy(out->findings, a->findings, sizeof out->findings);
    out->wallets = a->nwallets;
    out->wallets_max = a->wallets_max;
    out->untracked = a->untracked;
}

const char *aml_detector_name(int detector)
{
    static const char *const names[] = {"", "structuring", "rapid_in_out", "fan_in", "fan_out",
                                        "dormant", "circular"};
    return detector >= 1 && detector <= AML_DETECTORS ? names[detector] : "";
}
