/*
 * risk_table.c: wallet profiles and velocity (see risk_table.h).
 *
 * Entries are appended (never removed) and found through an open-addressing index of
 * 4-byte slots (entry number + 1) at load <= 1/2. Only the monitor thread inserts: it fills
 * the entry, then publishes its slot with a release store, so a reader that finds the slot
 * sees a complete id. Everything of an entry that changes is guarded by one of STRIPES
 * mutexes chosen by the id's hash; the velocity windows change only under all of them.
 */
#include "risk_table.h"

#include <pthread.h>
#include <stdatomic.h>

#include "idmap.h"

#define STRIPES 64

/* One cache line: what screening reads of a wallet. */
struct entry {
    _Alignas(64) jz_id id;
    struct risk_wallet w;
    uint64_t device_fp;
};
_Static_assert(sizeof(struct entry) == 64, "an entry is one cache line");

struct vstep {
    int64_t sum;
    uint32_t count;
    uint32_t step; /* absolute step number (time / step_ms) this slot counts */
};

struct risk_table {
    uint32_t entries_max;
    _Atomic uint32_t nentries;
    struct entry *entries;
    _Atomic uint32_t *index;
    uint32_t index_mask;
    pthread_mutex_t stripes[STRIPES];
    /* Velocity, reshaped only under all stripes. */
    uint32_t nwindows;
    _Atomic uint32_t generation;
    int64_t windows[RISK_WINDOWS_MAX];
    int64_t step_ms[RISK_WINDOWS_MAX];
    /* entries_max * nwindows * RISK_VELOCITY_STEPS; atomic because prefetching reads it
     * without a lock */
    _Atomic(struct vstep *) steps;
    _Atomic uint64_t counted, uncounted;
};

static size_t steps_bytes(const risk_table *t, uint32_t nwindows)
{
    return (size_t)t->entries_max * nwindows * RISK_VELOCITY_STEPS * sizeof(struct vstep);
}

risk_table *risk_table_new(uint32_t wallets_max)
{
    risk_table *t = calloc(1, sizeof *t);
    if (!t) {
        return NULL;
    }
    t->entries_max = wallets_max;
    t->entries = idmap_table_alloc((size_t)wallets_max * sizeof *t->entries);
    uint32_t slots = idmap_pow2(2ull * wallets_max);
    t->index = idmap_table_alloc((size_t)slots * sizeof *t->index);
    t->index_mask = slots - 1;
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_init(&t->stripes[i], NULL);
    }
    if (!t->entries || !t->index) {
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
    idmap_table_free(t->entries, (size_t)t->entries_max * sizeof *t->entries);
    idmap_table_free((void *)t->index, (size_t)(t->index_mask + 1) * sizeof *t->index);
    idmap_table_free(atomic_load(&t->steps), steps_bytes(t, t->nwindows));
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

void risk_table_prefetch(risk_table *t, const jz_id *id, int stage)
{
    uint32_t i = (uint32_t)jz_id_hash(id) & t->index_mask;
    if (stage == 1) {
        __builtin_prefetch((const void *)&t->index[i]);
        return;
    }
    uint32_t v = atomic_load_explicit(&t->index[i], memory_order_acquire);
    struct vstep *steps = atomic_load_explicit(&t->steps, memory_order_relaxed);
    if (v != 0) {
        __builtin_prefetch(&t->entries[v - 1]);
    }
    if (v != 0 && steps) {
        const char *s = (const char *)(steps + (size_t)(v - 1) * t->nwindows * RISK_VELOCITY_STEPS);
        __builtin_prefetch(s);
        __builtin_prefetch(s + 64);
    }
}

int risk_table_put_wallet(risk_table *t, const jz_id *id, const struct risk_wallet *w)
{
    if (find(t, id) >= 0) {
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

bool risk_table_device(risk_table *t, const jz_id *id, const jz_id *device, int64_t at,
                       bool apply)
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
    }
    if (en->device_fp != fp && apply) {
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
    struct vstep *steps = atomic_load_explicit(&t->steps, memory_order_relaxed);
    return &steps[((size_t)e * t->nwindows + w) * RISK_VELOCITY_STEPS];
}

/* Adds count (+1 or -1) and sign * amount to the step of ts in each window. A payment
 * older than what a slot now counts is outside every window: it is not added (nor, when
 * taken back, subtracted). */
static void steps_add(risk_table *t, uint32_t e, int64_t ts, int64_t amount, int sign)
{
    for (uint32_t w = 0; w < t->nwindows; w++) {
        uint32_t step = (uint32_t)(ts / t->step_ms[w]);
        struct vstep *s = &steps_of(t, e, w)[step % RISK_VELOCITY_STEPS];
        if (s->step != step) {
            if ((int32_t)(step - s->step) < 0 || sign < 0) {
                continue;
            }
            s->step = step;
            s->count = 0;
            s->sum = 0;
        }
        if (sign > 0) {
            s->count++;
            s->sum += amount;
        } else if (s->count > 0) {
            s->count--;
            s->sum -= amount;
        }
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
    int64_t e = t->nwindows ? find(t, wallet) : -1;
    if (e < 0) {
        return;
    }
    pthread_mutex_t *mu = &t->stripes[stripe_of(wallet)];
    pthread_mutex_lock(mu);
    steps_add(t, (uint32_t)e, ts, amount, 1);
    pthread_mutex_unlock(mu);
}

void risk_table_uncount(risk_table *t, const jz_id *payer, uint32_t generation, int64_t at_ms,
                        int64_t amount)
{
    int64_t e = find(t, payer);
    if (e < 0) {
        return;
    }
    pthread_mutex_t *mu = &t->stripes[stripe_of(payer)];
    pthread_mutex_lock(mu);
    if (generation == atomic_load(&t->generation)) {
        steps_add(t, (uint32_t)e, at_ms, amount, -1); /* else: zeroed since, nothing to undo */
    }
    pthread_mutex_unlock(mu);
    atomic_fetch_add_explicit(&t->uncounted, 1, memory_order_relaxed);
}

int risk_table_set_windows(risk_table *t, const int64_t *windows_ms, uint32_t n)
{
    ASSERT(n <= RISK_WINDOWS_MAX);
    if (n == t->nwindows && memcmp(windows_ms, t->windows, n * sizeof *windows_ms) == 0) {
        return 0;
    }
    struct vstep *steps = NULL;
    if (n > 0) {
        steps = idmap_table_alloc(steps_bytes(t, n));
    }
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_lock(&t->stripes[i]);
    }
    idmap_table_free(atomic_load(&t->steps), steps_bytes(t, t->nwindows));
    atomic_store(&t->steps, steps);
    t->nwindows = n > 0 && !steps ? 0 : n;
    for (uint32_t w = 0; w < t->nwindows; w++) {
        t->windows[w] = windows_ms[w];
        t->step_ms[w] = windows_ms[w] / RISK_VELOCITY_STEPS;
        ASSERT(t->step_ms[w] > 0);
    }
    atomic_fetch_add(&t->generation, 1);
    for (int i = STRIPES - 1; i >= 0; i--) {
        pthread_mutex_unlock(&t->stripes[i]);
    }
    return n > 0 && !steps ? -1 : 1;
}

uint32_t risk_table_generation(risk_table *t)
{
    return atomic_load(&t->generation);
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
    s->generation = atomic_load_explicit(&t->generation, memory_order_relaxed);
    *w = t->entries[e].w;
    memset(counts, 0, RISK_WINDOWS_MAX * sizeof *counts);
    memset(sums, 0, RISK_WINDOWS_MAX * sizeof *sums);
    steps_read(t, (uint32_t)e, now_ms, counts, sums);
    for (uint32_t k = 0; k < t->nwindows; k++) {
        counts[k] += 1;
        sums[k] += amount;
    }
    return 0;
}

void risk_table_screen_count(struct risk_screen *s, int64_t amount, int64_t now_ms)
{
    steps_add(s->t, s->entry, now_ms, amount, 1);
    atomic_fetch_add_explicit(&s->t->counted, 1, memory_order_relaxed);
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
    out->counted = atomic_load(&t->counted);
    out->uncounted = atomic_load(&t->uncounted);
}
