/*
 * risk_table.c: wallet profiles, velocity and reservations (see risk_table.h).
 *
 * Entries are appended (never removed) and found through an open-addressing index of
 * 4-byte slots (entry number + 1) at load <= 1/2. Only the monitor thread inserts: it fills
 * the entry, then publishes its slot with a release store, so a reader that finds the slot
 * sees a complete id. Everything of an entry that changes is guarded by one of STRIPES
 * mutexes chosen by the id's hash. Reservations live in an idmap keyed by transfer id
 * (one mutex). Lock order: stripe, then reservations.
 */
#include "risk_table.h"

#include <pthread.h>
#include <stdatomic.h>

#include "idmap.h"

#define STRIPES 64

struct entry {
    jz_id id;
    struct risk_wallet w;
    uint64_t device_fp;
    int64_t pending_sum;
    uint32_t pending_count;
};

struct vstep {
    int64_t sum;
    uint32_t count;
    uint32_t step; /* absolute step number (time / step_ms) this slot counts */
};

/* A reservation, keyed by transfer id in the pending map. */
struct pending {
    uint32_t entry;
    int64_t amount;
    int64_t at_ms;
};

struct risk_table {
    uint32_t entries_max;
    _Atomic uint32_t nentries;
    struct entry *entries;
    _Atomic uint32_t *index;
    uint32_t index_mask;
    pthread_mutex_t stripes[STRIPES];
    /* Velocity, under all stripes when reshaped. */
    uint32_t nwindows;
    int64_t windows[RISK_WINDOWS_MAX];
    int64_t step_ms[RISK_WINDOWS_MAX];
    struct vstep *steps; /* entries_max * nwindows * RISK_VELOCITY_STEPS */
    /* Reservations. */
    pthread_mutex_t pending_mu;
    struct idmap pending;
    _Atomic uint64_t reserve_full, expired;
};

risk_table *risk_table_new(uint32_t wallets_max, uint32_t pending_max)
{
    risk_table *t = calloc(1, sizeof *t);
    if (!t) {
        return NULL;
    }
    t->entries_max = wallets_max;
    t->entries = calloc(wallets_max ? wallets_max : 1, sizeof *t->entries);
    uint32_t slots = idmap_pow2(2ull * wallets_max);
    t->index = calloc(slots, sizeof *t->index);
    t->index_mask = slots - 1;
    int prc = idmap_init(&t->pending, pending_max, sizeof(struct pending));
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_init(&t->stripes[i], NULL);
    }
    pthread_mutex_init(&t->pending_mu, NULL);
    if (!t->entries || !t->index || prc != 0) {
        risk_table_free(t);
        return NULL;
    }
    return t;
}

void risk_table_free(risk_table *t)
{
    if (!t) {
        return;
    }
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_destroy(&t->stripes[i]);
    }
    pthread_mutex_destroy(&t->pending_mu);
    free(t->entries);
    free((void *)t->index);
    idmap_destroy(&t->pending);
    free(t->steps);
    free(t);
}

static uint32_t stripe_of(const jz_id *id)
{
    return (uint32_t)(jz_id_hash(id) >> 58) % STRIPES;
}

/* Entry number of id, or -1. Lock-free (slots are published with release stores). */
static int64_t find(risk_table *t, const jz_id *id)
{
    uint32_t i = (uint32_t)jz_id_hash(id) & t->index_mask;
    for (;;) {
        uint32_t v = atomic_load_explicit(&t->index[i], memory_order_acquire);
        if (v == 0) {
            return -1;
        }
        if (jz_id_eq(&t->entries[v - 1].id, id)) {
            return v - 1;
        }
        i = (i + 1) & t->index_mask;
    }
}

int risk_table_put_wallet(risk_table *t, const jz_id *id, const struct risk_wallet *w)
{
    int64_t e = find(t, id);
    if (e >= 0) {
        return 0; /* a replayed open: the first one stands */
    }
    uint32_t n = atomic_load_explicit(&t->nentries, memory_order_relaxed);
    if (n == t->entries_max) {
        return -1;
    }
    struct entry *en = &t->entries[n];
    memset(en, 0, sizeof *en);
    en->id = *id;
    en->w = *w;
    uint32_t i = (uint32_t)jz_id_hash(id) & t->index_mask;
    while (atomic_load_explicit(&t->index[i], memory_order_relaxed) != 0) {
        i = (i + 1) & t->index_mask;
    }
    atomic_store_explicit(&t->nentries, n + 1, memory_order_relaxed);
    atomic_store_explicit(&t->index[i], n + 1, memory_order_release);
    ASSERT(find(t, id) == (int64_t)n);
    return 0;
}

void risk_table_set_tier(risk_table *t, const jz_id *id, uint8_t tier)
{
    int64_t e = find(t, id);
    if (e < 0 || tier == 0) {
        return;
    }
    pthread_mutex_t *mu = &t->stripes[stripe_of(id)];
    pthread_mutex_lock(mu);
    t->entries[e].w.tier = tier;
    pthread_mutex_unlock(mu);
}

bool risk_table_device(risk_table *t, const jz_id *id, const jz_id *device, int64_t at)
{
    int64_t e = find(t, id);
    if (e < 0) {
        return false;
    }
    uint64_t fp = jz_id_hash(device) | 1; /* never 0: 0 means no device yet */
    bool changed = false;
    pthread_mutex_t *mu = &t->stripes[stripe_of(id)];
    pthread_mutex_lock(mu);
    struct entry *en = &t->entries[e];
    if (en->device_fp != fp) {
        /* The first device a wallet reports is its device, not a change. */
        changed = en->device_fp != 0;
        en->device_fp = fp;
        if (changed && at > en->w.device_changed_ms) {
            en->w.device_changed_ms = at;
        }
    }
    pthread_mutex_unlock(mu);
    return changed;
}

int risk_table_get(risk_table *t, const jz_id *id, struct risk_wallet *out)
{
    int64_t e = find(t, id);
    if (e < 0) {
        return -1;
    }
    pthread_mutex_t *mu = &t->stripes[stripe_of(id)];
    pthread_mutex_lock(mu);
    *out = t->entries[e].w;
    pthread_mutex_unlock(mu);
    return 0;
}

/* ---- Velocity (callers hold the entry's stripe) ---- */

static struct vstep *steps_of(risk_table *t, uint32_t e, uint32_t w)
{
    return &t->steps[((size_t)e * t->nwindows + w) * RISK_VELOCITY_STEPS];
}

static void steps_add(risk_table *t, uint32_t e, int64_t ts, int64_t amount)
{
    for (uint32_t w = 0; w < t->nwindows; w++) {
        uint32_t step = (uint32_t)(ts / t->step_ms[w]);
        struct vstep *s = &steps_of(t, e, w)[step % RISK_VELOCITY_STEPS];
        if (s->step != step) {
            if ((int32_t)(step - s->step) < 0 && s->count != 0) {
                continue; /* older than the whole window this slot now counts */
            }
            s->step = step;
            s->count = 0;
            s->sum = 0;
        }
        s->count++;
        s->sum += amount;
    }
}

static void steps_read(risk_table *t, uint32_t e, int64_t now, uint32_t *counts, int64_t *sums)
{
    for (uint32_t w = 0; w < t->nwindows; w++) {
        uint32_t cur = (uint32_t)(now / t->step_ms[w]);
        const struct vstep *s = steps_of(t, e, w);
        counts[w] = 0;
        sums[w] = 0;
        for (int k = 0; k < RISK_VELOCITY_STEPS; k++) {
            if (s[k].count && (int32_t)(cur - s[k].step) < RISK_VELOCITY_STEPS) {
                counts[w] += s[k].count;
                sums[w] += s[k].sum;
            }
        }
    }
}

void risk_table_velocity_add(risk_table *t, const jz_id *wallet, int64_t ts, int64_t amount)
{
    int64_t e = find(t, wallet);
    if (e < 0 || t->nwindows == 0) {
        return;
    }
    pthread_mutex_t *mu = &t->stripes[stripe_of(wallet)];
    pthread_mutex_lock(mu);
    steps_add(t, (uint32_t)e, ts, amount);
    pthread_mutex_unlock(mu);
}

int risk_table_set_windows(risk_table *t, const int64_t *windows_ms, uint32_t n)
{
    ASSERT(n <= RISK_WINDOWS_MAX);
    if (n == t->nwindows && memcmp(windows_ms, t->windows, n * sizeof *windows_ms) == 0) {
        return 0;
    }
    struct vstep *steps = NULL;
    if (n > 0) {
        steps = calloc((size_t)t->entries_max * n * RISK_VELOCITY_STEPS, sizeof *steps);
    }
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_lock(&t->stripes[i]);
    }
    free(t->steps);
    t->steps = steps;
    t->nwindows = n > 0 && !steps ? 0 : n;
    for (uint32_t w = 0; w < t->nwindows; w++) {
        t->windows[w] = windows_ms[w];
        t->step_ms[w] = windows_ms[w] / RISK_VELOCITY_STEPS;
        ASSERT(t->step_ms[w] > 0);
    }
    for (int i = STRIPES - 1; i >= 0; i--) {
        pthread_mutex_unlock(&t->stripes[i]);
    }
    return n > 0 && !steps ? -1 : 1;
}

/* ---- Reservations ---- */

/* Takes one reservation of id out of the table; true with its entry and amount. */
static bool pending_take(risk_table *t, const jz_id *id, uint32_t *entry, int64_t *amount)
{
    struct pending p;
    pthread_mutex_lock(&t->pending_mu);
    bool found = idmap_take(&t->pending, id, &p);
    pthread_mutex_unlock(&t->pending_mu);
    if (found) {
        *entry = p.entry;
        *amount = p.amount;
    }
    return found;
}

static void unreserve(risk_table *t, uint32_t entry, int64_t amount)
{
    pthread_mutex_t *mu = &t->stripes[stripe_of(&t->entries[entry].id)];
    pthread_mutex_lock(mu);
    struct entry *en = &t->entries[entry];
    ASSERT(en->pending_count > 0);
    en->pending_count--;
    en->pending_sum -= amount;
    pthread_mutex_unlock(mu);
}

void risk_table_release(risk_table *t, const jz_id *id)
{
    uint32_t entry = 0;
    int64_t amount = 0;
    if (pending_take(t, id, &entry, &amount)) {
        unreserve(t, entry, amount);
    }
}

uint32_t risk_table_expire(risk_table *t, int64_t before_ms)
{
    enum { BATCH = 1024 };
    jz_id ids[BATCH];
    uint32_t n = 0;
    pthread_mutex_lock(&t->pending_mu);
    for (uint32_t i = 0; i < idmap_slots(&t->pending) && n < BATCH && t->pending.count; i++) {
        const struct pending *p = idmap_slot(&t->pending, i, &ids[n]);
        n += p && p->at_ms < before_ms;
    }
    pthread_mutex_unlock(&t->pending_mu);
    for (uint32_t k = 0; k < n; k++) {
        risk_table_release(t, &ids[k]);
    }
    atomic_fetch_add(&t->expired, n);
    return n;
}

/* ---- Screening ---- */

int risk_table_screen_begin(risk_table *t, const jz_id *payer, int64_t now_ms, int64_t amount,
                            struct risk_screen *s, struct risk_wallet *w,
                            uint32_t counts[RISK_WINDOWS_MAX], int64_t sums[RISK_WINDOWS_MAX])
{
    int64_t e = find(t, payer);
    if (e < 0) {
        return -1;
    }
    s->t = t;
    s->entry = (uint32_t)e;
    s->stripe = stripe_of(payer);
    pthread_mutex_lock(&t->stripes[s->stripe]);
    const struct entry *en = &t->entries[e];
    *w = en->w;
    memset(counts, 0, RISK_WINDOWS_MAX * sizeof *counts);
    memset(sums, 0, RISK_WINDOWS_MAX * sizeof *sums);
    steps_read(t, (uint32_t)e, now_ms, counts, sums);
    for (uint32_t k = 0; k < t->nwindows; k++) {
        counts[k] += en->pending_count + 1;
        sums[k] += en->pending_sum + amount;
    }
    return 0;
}

int risk_table_screen_reserve(struct risk_screen *s, const jz_id *transfer_id, int64_t amount,
                              int64_t now_ms)
{
    risk_table *t = s->t;
    pthread_mutex_lock(&t->pending_mu);
    struct pending *p = idmap_put(&t->pending, transfer_id);
    bool full = p == NULL;
    if (p) {
        *p = (struct pending){.entry = s->entry, .amount = amount, .at_ms = now_ms};
    }
    pthread_mutex_unlock(&t->pending_mu);
    if (full) {
        atomic_fetch_add(&t->reserve_full, 1);
        return -1;
    }
    t->entries[s->entry].pending_count++;
    t->entries[s->entry].pending_sum += amount;
    return 0;
}

void risk_table_screen_end(struct risk_screen *s)
{
    pthread_mutex_unlock(&s->t->stripes[s->stripe]);
}

void risk_table_stats(risk_table *t, struct risk_table_stats *out)
{
    memset(out, 0, sizeof *out);
    out->wallets = atomic_load(&t->nentries);
    out->wallets_max = t->entries_max;
    pthread_mutex_lock(&t->pending_mu);
    out->pending = t->pending.count;
    out->pending_max = t->pending.max;
    pthread_mutex_unlock(&t->pending_mu);
    out->reserve_full = atomic_load(&t->reserve_full);
    out->expired = atomic_load(&t->expired);
}
