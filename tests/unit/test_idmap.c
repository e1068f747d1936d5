/*
 * test_idmap.c: the id-keyed hash map (idmap.h) against a plain array under a seeded churn
 * of puts and takes (backward-shift deletion must keep every remaining key findable), and
 * its limits: a full map refuses, duplicates come back one at a time.
 */
#include "idmap.h"
#include "test.h"

TEST(idmap_churn_matches_a_reference)
{
    enum { KEYS = 512, OPS = 200000 };
    struct idmap m;
    REQUIRE(idmap_init(&m, 300, sizeof(uint64_t)) == 0);
    static uint32_t count[KEYS]; /* how many entries of each key the map should hold */
    memset(count, 0, sizeof count);
    uint64_t seed = test_seed();
    uint32_t held = 0;
    for (uint32_t op = 0; op < OPS; op++) {
        seed = jz_mix64(seed + op);
        uint32_t k = (uint32_t)(seed % KEYS) & ~7u; /* clustered keys: long probe runs */
        k |= (uint32_t)(seed >> 20) % 8;
        jz_id id;
        memset(&id, 0, sizeof id);
        memcpy(id.b, &k, 4);
        if ((seed >> 40) % 3 != 0) {
            uint64_t *v = idmap_put(&m, &id);
            if (held == m.max) {
                CHECK(v == NULL);
                continue;
            }
            REQUIRE(v != NULL);
            *v = k;
            count[k]++;
            held++;
        } else {
            uint64_t v = 0;
            bool took = idmap_take(&m, &id, &v);
            CHECK_EQ_INT(took, count[k] > 0);
            if (took) {
                CHECK_EQ_INT(v, k);
                count[k]--;
                held--;
            }
        }
    }
    CHECK_EQ_INT(m.count, held);
    uint32_t seen = 0;
    for (uint32_t i = 0; i < idmap_slots(&m); i++) {
        jz_id key;
        uint64_t *v = idmap_slot(&m, i, &key);
        if (v) {
            uint32_t k;
            memcpy(&k, key.b, 4);
            CHECK_EQ_INT(*v, k);
            seen++;
        }
    }
    CHECK_EQ_INT(seen, held);
    for (uint32_t k = 0; k < KEYS; k++) {
        jz_id id;
        memset(&id, 0, sizeof id);
        memcpy(id.b, &k, 4);
        CHECK_EQ_INT(idmap_get(&m, &id) != NULL, count[k] > 0);
    }
    idmap_destroy(&m);
}
