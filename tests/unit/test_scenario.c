/*
 * test_scenario.c: the pure parts of the payment scenarios: the draw (scenario_draw.h), QR
 * payloads (scenario_qr.h) and the UTC+8 date helpers.
 */
#include "crypto.h"
#include "scenario_draw.h"
#include "scenario_int.h"
#include "scenario_qr.h"
#include "test.h"

static void sorted_ids(jz_id *ids, uint32_t n, uint8_t salt)
{
    for (uint32_t i = 0; i < n; i++) {
        memset(&ids[i], 0, sizeof ids[i]);
        ids[i].b[0] = salt;
        ids[i].b[14] = (uint8_t)(i >> 8);
        ids[i].b[15] = (uint8_t)i;
    }
}

TEST(scenario_draw_is_a_function_of_seed_and_registrations)
{
    jz_id ids[40];
    uint32_t a[10], b[10], c[10];
    uint8_t seed[32], other[32], d1[32], d2[32];
    memset(seed, 7, sizeof seed);
    memcpy(other, seed, sizeof other);
    other[31] ^= 1;
    sorted_ids(ids, 40, 1);
    REQUIRE_EQ_INT(scen_draw(seed, ids, 40, 10, a, d1), 10);
    REQUIRE_EQ_INT(scen_draw(seed, ids, 40, 10, b, d2), 10);
    CHECK_EQ_MEM(a, b, sizeof a);
    CHECK_EQ_MEM(d1, d2, sizeof d1);
    /* Another seed, another list (fixed inputs: this holds every run). */
    REQUIRE_EQ_INT(scen_draw(other, ids, 40, 10, c, d2), 10);
    CHECK(memcmp(a, c, sizeof a) != 0);
    /* Winners are distinct registrations. */
    for (int i = 0; i < 10; i++) {
        CHECK(a[i] < 40);
        for (int j = 0; j < i; j++) {
            CHECK(a[i] != a[j]);
        }
    }
    /* Another registration list, another draw; unsorted or repeated ids are refused. */
    sorted_ids(ids, 40, 2);
    REQUIRE_EQ_INT(scen_draw(seed, ids, 40, 10, c, d2), 10);
    CHECK(memcmp(d1, d2, sizeof d1) != 0);
    jz_id t = ids[3];
    ids[3] = ids[4];
    ids[4] = t;
    CHECK_EQ_INT(scen_draw(seed, ids, 40, 10, c, d2), -1);
    ids[4] = ids[3];
    CHECK_EQ_INT(scen_draw(seed, ids, 40, 10, c, d2), -1);
    /* More winners than registrations: everyone, in some order; none: nobody. */
    sorted_ids(ids, 3, 3);
    CHECK_EQ_INT(scen_draw(seed, ids, 3, 10, c, d2), 3);
    CHECK_EQ_INT(scen_draw(seed, ids, 0, 10, c, d2), 0);
}

TEST(scenario_draw_picks_evenly)
{
    /* One winner of 4, over 4,000 seeds: each near 1,000 (5 sigma is about 140). */
    jz_id ids[4];
    uint32_t count[4] = {0};
    sorted_ids(ids, 4, 9);
    for (uint32_t s = 0; s < 4000; s++) {
        uint8_t seed[32] = {0};
        uint8_t d[32];
        uint32_t w;
        memcpy(seed, &s, sizeof s);
        REQUIRE_EQ_INT(scen_draw(seed, ids, 4, 1, &w, d), 1);
        count[w]++;
    }
    for (int i = 0; i < 4; i++) {
        CHECK(count[i] > 860 && count[i] < 1140);
    }
}

TEST(scenario_qr_round_trip_and_any_change_refused)
{
    crypto_sm2_key *key = NULL;
    crypto_sm2_key *other = NULL;
    REQUIRE_EQ_INT(crypto_sm2_generate(&key), 0);
    REQUIRE_EQ_INT(crypto_sm2_generate(&other), 0);
    struct scen_qr q = {.dynamic = true, .amount = 2500, .expires_at = 1781496000000LL};
    memset(q.merchant.b, 0x11, 16);
    memset(q.order.b, 0x22, 16);
    char uri[SCEN_QR_MAX];
    REQUIRE_EQ_INT(scen_qr_make(key, &q, uri), 0);
    struct scen_qr r;
    REQUIRE_EQ_INT(scen_qr_read(key, uri, strlen(uri), &r), 0);
    CHECK(r.dynamic);
    CHECK_EQ_INT(r.amount, 2500);
    CHECK_EQ_INT(r.expires_at, 1781496000000LL);
    CHECK(jz_id_eq(&r.order, &q.order) && jz_id_eq(&r.merchant, &q.merchant));
    CHECK_EQ_INT(scen_qr_read(other, uri, strlen(uri), &r), -1);
    /* Every byte changed, one at a time, is refused. */
    size_t n = strlen(uri);
    int accepted = 0;
    for (size_t i = 0; i < n; i++) {
        char bad[SCEN_QR_MAX];
        memcpy(bad, uri, n + 1);
        bad[i] = bad[i] == '1' ? '2' : '1';
        accepted += scen_qr_read(key, bad, n, &r) == 0;
    }
    CHECK_EQ_INT(accepted, 0);
    CHECK_EQ_INT(scen_qr_read(key, uri, n - 1, &r), -1);
    /* A static code names the merchant only. */
    struct scen_qr st = {.merchant = q.merchant};
    REQUIRE_EQ_INT(scen_qr_make(key, &st, uri), 0);
    REQUIRE_EQ_INT(scen_qr_read(key, uri, strlen(uri), &r), 0);
    CHECK(!r.dynamic);
    CHECK(jz_id_eq(&r.merchant, &q.merchant));
    crypto_sm2_free(key);
    crypto_sm2_free(other);
}

TEST(scenario_dates_utc8)
{
    int32_t day = 0;
    char out[11];
    REQUIRE_EQ_INT(jz_day_of_date("1970-01-01", &day), 0);
    CHECK_EQ_INT(day, 0);
    REQUIRE_EQ_INT(jz_day_of_date("2026-06-15", &day), 0);
    CHECK_EQ_INT(day, ledger_day_of(1781496000000LL)); /* noon in UTC+8 that day */
    jz_date_of_day(day, out);
    CHECK_EQ_STR(out, "2026-06-15");
    REQUIRE_EQ_INT(jz_day_of_date("2024-02-29", &day), 0);
    jz_date_of_day(day + 1, out);
    CHECK_EQ_STR(out, "2024-03-01");
    CHECK_EQ_INT(jz_day_of_date("2026-02-29", &day), -1);
    CHECK_EQ_INT(jz_day_of_date("2026-13-01", &day), -1);
    CHECK_EQ_INT(jz_day_of_date("2026-1-01", &day), -1);
    CHECK_EQ_INT(jz_day_of_date("2026-01-01x", &day), -1);
}
