/*
 * idmap.c: see idmap.h. A slot is the key (16 bytes), a used byte, padding to 8, and the
 * value rounded up to 8 bytes.
 */
#include "idmap.h"

#include <sys/mman.h>

#define KEY_BYTES 16
#define VALUE_OFFSET 24

static uint8_t *slot_at(const struct idmap *m, uint32_t i)
{
    return m->slots + (size_t)i * m->slot_bytes;
}

static bool used(const uint8_t *s)
{
    return s[KEY_BYTES] != 0;
}

static uint32_t home(const struct idmap *m, const uint8_t *key)
{
    jz_id k;
    memcpy(k.b, key, KEY_BYTES);
    return (uint32_t)jz_id_hash(&k) & m->mask;
}

void *idmap_table_alloc(size_t bytes)
{
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    madvise(p, bytes, MADV_HUGEPAGE); /* a hint: without it the table still works */
    return p;
}

void idmap_table_free(void *p, size_t bytes)
{
    if (p) {
        munmap(p, bytes ? bytes : 1);
    }
}

uint32_t idmap_pow2(uint64_t n)
{
    uint32_t p = 16;
    while (p < n && p < (1u << 31)) {
        p <<= 1;
    }
    return p;
}

int idmap_init(struct idmap *m, uint32_t max, size_t value_bytes)
{
    memset(m, 0, sizeof *m);
    uint32_t slots = idmap_pow2(2ull * max);
    m->mask = slots - 1;
    m->max = max < slots / 2 ? max : slots / 2;
    m->value_bytes = (uint32_t)value_bytes;
    m->slot_bytes = VALUE_OFFSET + (uint32_t)((value_bytes + 7) / 8 * 8);
    m->slots = idmap_table_alloc((size_t)slots * m->slot_bytes);
    return m->slots ? 0 : -1;
}

void idmap_destroy(struct idmap *m)
{
    idmap_table_free(m->slots, (size_t)(m->mask + 1) * m->slot_bytes);
    memset(m, 0, sizeof *m);
}

/* Slot number of the first entry with key k, or -1. */
static int64_t find(const struct idmap *m, const jz_id *k)
{
    if (m->count == 0) {
        return -1;
    }
    for (uint32_t i = (uint32_t)jz_id_hash(k) & m->mask;; i = (i + 1) & m->mask) {
        const uint8_t *s = slot_at(m, i);
        if (!used(s)) {
            return -1;
        }
        if (memcmp(s, k->b, KEY_BYTES) == 0) {
            return i;
        }
    }
}

void *idmap_get(const struct idmap *m, const jz_id *k)
{
    int64_t i = find(m, k);
    return i < 0 ? NULL : slot_at(m, (uint32_t)i) + VALUE_OFFSET;
}

void idmap_prefetch(const struct idmap *m, const jz_id *k)
{
    __builtin_prefetch(slot_at(m, (uint32_t)jz_id_hash(k) & m->mask));
}

void *idmap_put(struct idmap *m, const jz_id *k)
{
    if (m->count >= m->max) {
        return NULL;
    }
    uint32_t i = (uint32_t)jz_id_hash(k) & m->mask;
    while (used(slot_at(m, i))) {
        i = (i + 1) & m->mask;
    }
    uint8_t *s = slot_at(m, i);
    memset(s, 0, m->slot_bytes);
    memcpy(s, k->b, KEY_BYTES);
    s[KEY_BYTES] = 1;
    m->count++;
    ASSERT(m->count <= m->max);
    return s + VALUE_OFFSET;
}

bool idmap_take(struct idmap *m, const jz_id *k, void *out)
{
    int64_t found = find(m, k);
    if (found < 0) {
        return false;
    }
    uint32_t hole = (uint32_t)found;
    if (out) {
        memcpy(out, slot_at(m, hole) + VALUE_OFFSET, m->value_bytes);
    }
    /* Backward shift: move later entries of the probe run into the hole unless their home
     * lies cyclically in (hole, j]. */
    for (uint32_t j = (hole + 1) & m->mask; used(slot_at(m, j)); j = (j + 1) & m->mask) {
        uint32_t h = home(m, slot_at(m, j));
        bool stays = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j);
        if (!stays) {
            memcpy(slot_at(m, hole), slot_at(m, j), m->slot_bytes);
            hole = j;
        }
    }
    memset(slot_at(m, hole), 0, m->slot_bytes);
    m->count--;
    return true;
}

uint32_t idmap_slots(const struct idmap *m)
{
    return m->mask + 1;
}

void *idmap_slot(const struct idmap *m, uint32_t i, jz_id *key)
{
    uint8_t *s = slot_at(m, i);
    if (!used(s)) {
        return NULL;
    }
    if (key) {
        memcpy(key->b, s, KEY_BYTES);
    }
    return s + VALUE_OFFSET;
}
