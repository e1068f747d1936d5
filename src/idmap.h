/*
 * idmap.h: a fixed-capacity hash map from 128-bit ids to small fixed-size values, for the
 * risk module's tables (reservations, the AML wallet index, open holds).
 *
 * Open addressing with linear probing at load <= 1/2, deletion by backward shift (no
 * tombstones, so a map that churns never degrades). A key may be present more than once
 * (idmap_put always adds); get and take find the first. All memory is allocated by
 * idmap_init; nothing allocates afterwards. Not thread-safe: callers lock.
 */
#ifndef JZ_IDMAP_H
#define JZ_IDMAP_H

#include "common.h"

struct idmap {
    uint8_t *slots;
    uint32_t mask;       /* slots - 1 */
    uint32_t count, max; /* entries, and the most it holds */
    uint32_t slot_bytes;
    uint32_t value_bytes;
};

/* Large zeroed tables (the risk module's per-wallet state, which is read at random): anonymous
 * mappings, zero pages until touched, with transparent huge pages asked for so that random
 * reads do not also miss the TLB. NULL when memory cannot be had; free with the same size. */
void *idmap_table_alloc(size_t bytes);
void idmap_table_free(void *p, size_t bytes);

/* The smallest power of two >= n (at least 16, at most 2^31): table sizes. */
uint32_t idmap_pow2(uint64_t n);

/* Room for max entries of value_bytes each. 0, or -1 when memory cannot be had. */
int idmap_init(struct idmap *m, uint32_t max, size_t value_bytes);
void idmap_destroy(struct idmap *m);

/* The value of the first entry with key k, or NULL. Valid until the map next changes. */
void *idmap_get(const struct idmap *m, const jz_id *k);
/* A memory hint: fetches the slot where k's probe starts. */
void idmap_prefetch(const struct idmap *m, const jz_id *k);
/* Adds an entry with key k; returns its value (zeroed) to fill, or NULL when full. */
void *idmap_put(struct idmap *m, const jz_id *k);
/* Removes the first entry with key k, copying its value to out (may be NULL). */
bool idmap_take(struct idmap *m, const jz_id *k, void *out);

/* Iteration over slots 0..idmap_slots(m)-1: the key and value of slot i, or NULL. */
uint32_t idmap_slots(const struct idmap *m);
void *idmap_slot(const struct idmap *m, uint32_t i, jz_id *key);

#endif
