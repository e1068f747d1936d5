/*
 * test_risk_table.c: the wallet table behind the rules (risk_table.h): velocity windows
 * counted in steps, reservations counted once (from screening until durable), released by
 * id, expired after their TTL, and concurrent screens of one wallet serialised.
 */
#include <pthread.h>

#include "risk_table.h"
#include "test.h"

#define MIN_MS 60000LL

static jz_id id_of(uint8_t tag, uint32_t n)
{
    jz_id id;
    memset(&id, 0, sizeof id);
    id.b[0] = tag;
    memcpy(id.b + 1, &n, 4);
    return id;
}

/* A table holding one wallet (tier 4 unless told), with velocity windows set. */
static risk_table *table_with(jz_id *w, uint8_t tier, const int64_t *windows, uint32_t n)
{
    risk_table *t = risk_table_new(10);
    struct risk_wallet p = {.operator_index = 1, .kind = LEDGER_WALLET_PERSONAL, .tier = tier};
    if (t && (risk_table_put_wallet(t, w, &p) != 0 || risk_table_set_windows(t, windows, n) != 1)) {
        risk_table_free(t);
        t = NULL;
    }
    return t;
}

static void velocity(risk_table *t, const jz_id *w, int64_t now, uint32_t *count, int64_t *sum)
{
    struct risk_screen s;
    struct risk_wallet wv;
    uint32_t counts[RISK_WINDOWS_MAX];
    int64_t sums[RISK_WINDOWS_MAX];
    ASSERT(risk_table_screen_begin(t, w, now, 0, &s, &wv, counts, sums) == 0);
    risk_table_screen_end(&s);
    *count = counts[0] - 1; /* without the (empty) payment being screened */
    *sum = sums[0];
}

TEST(risk_table_velocity_steps_and_window_edge)
{
    jz_id w = id_of('W', 1);
    int64_t win = 60 * MIN_MS; /* 1 h: steps of 10 min */
    risk_table *t = table_with(&w, 4, &win, 1);
    REQUIRE(t != NULL);
    CHECK_EQ_INT(risk_table_set_windows(t, &win, 1), 0); /* unchanged */
    int64_t t0 = 1740758400000LL; /* a multiple of 10 min */
    risk_table_velocity_add(t, &w, t0, 100);
    risk_table_velocity_add(t, &w, t0 + 10 * MIN_MS - 1, 200);
    risk_table_velocity_add(t, &w, t0 + 10 * MIN_MS, 400);
    uint32_t n;
    int64_t sum;
    velocity(t, &w, t0 + 10 * MIN_MS, &n, &sum);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(sum, 700);
    /* At t0 + 60 min the step of t0 has left the window (6 steps: t0+10min .. t0+60min). */
    velocity(t, &w, t0 + 60 * MIN_MS - 1, &n, &sum);
    CHECK_EQ_INT(n, 3);
    velocity(t, &w, t0 + 60 * MIN_MS, &n, &sum);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(sum, 400);
    velocity(t, &w, t0 + 70 * MIN_MS, &n, &sum);
    CHECK_EQ_INT(n, 0);
    /* An unknown wallet has no velocity and cannot be screened. */
    jz_id unknown = id_of('W', 2);
    struct risk_screen s;
    struct risk_wallet wv;
    uint32_t c[RISK_WINDOWS_MAX];
    int64_t sm[RISK_WINDOWS_MAX];
    CHECK_EQ_INT(risk_table_screen_begin(t, &unknown, t0, 1, &s, &wv, c, sm), -1);
    /* New windows zero velocity. */
    int64_t two[2] = {win, 24 * 60 * MIN_MS};
    CHECK_EQ_INT(risk_table_set_windows(t, two, 2), 1);
    velocity(t, &w, t0 + 10 * MIN_MS, &n, &sum);
    CHECK_EQ_INT(n, 0);
    risk_table_free(t);
}

TEST(risk_table_screened_payments_count_once)
{
    jz_id w = id_of('W', 1);
    int64_t win = 60 * MIN_MS;
    risk_table *t = table_with(&w, 4, &win, 1);
    REQUIRE(t != NULL);
    uint32_t gen = risk_table_generation(t);
    int64_t now = 1740758400000LL;
    struct risk_screen s;
    struct risk_wallet wv;
    uint32_t c[RISK_WINDOWS_MAX];
    int64_t sm[RISK_WINDOWS_MAX];
    for (uint32_t i = 0; i < 5; i++) {
        REQUIRE(risk_table_screen_begin(t, &w, now, 50, &s, &wv, c, sm) == 0);
        CHECK_EQ_INT(c[0], i + 1); /* those counted so far, and this payment */
        CHECK_EQ_INT(sm[0], (int64_t)(i + 1) * 50);
        CHECK_EQ_INT(s.generation, gen);
        risk_table_screen_count(&s, 50, now);
        risk_table_screen_end(&s);
    }
    /* Two did not post: taken back. One counted under an older generation: nothing to
     * take back (the windows were reset since). */
    risk_table_uncount(t, &w, gen, now, 50);
    risk_table_uncount(t, &w, gen, now, 50);
    risk_table_uncount(t, &w, gen - 1, now, 50);
    REQUIRE(risk_table_screen_begin(t, &w, now, 0, &s, &wv, c, sm) == 0);
    CHECK_EQ_INT(c[0], 3 + 1);
    CHECK_EQ_INT(sm[0], 150);
    risk_table_screen_end(&s);
    /* A payment counted in a step that has since left its slot is not taken back twice. */
    risk_table_uncount(t, &w, gen, now - 2 * 60 * MIN_MS, 50);
    REQUIRE(risk_table_screen_begin(t, &w, now, 0, &s, &wv, c, sm) == 0);
    CHECK_EQ_INT(c[0], 3 + 1);
    risk_table_screen_end(&s);
    /* New windows: a new generation, zeroed. */
    int64_t two[2] = {win, 2 * win};
    CHECK_EQ_INT(risk_table_set_windows(t, two, 2), 1);
    CHECK(risk_table_generation(t) != gen);
    REQUIRE(risk_table_screen_begin(t, &w, now, 0, &s, &wv, c, sm) == 0);
    CHECK_EQ_INT(c[0], 1);
    CHECK_EQ_INT(c[1], 1);
    risk_table_screen_end(&s);
    struct risk_table_stats st;
    risk_table_stats(t, &st);
    CHECK_EQ_INT(st.counted, 5);
    CHECK_EQ_INT(st.uncounted, 4);
    risk_table_free(t);
}

struct racer {
    risk_table *t;
    jz_id wallet;
    int allowed;
};

/* Each racer lets a payment through while fewer than 10 are counted. */
static void *race(void *arg)
{
    struct racer *r = arg;
    for (uint32_t i = 0; i < 200; i++) {
        struct risk_screen s;
        struct risk_wallet wv;
        uint32_t c[RISK_WINDOWS_MAX];
        int64_t sm[RISK_WINDOWS_MAX];
        if (risk_table_screen_begin(r->t, &r->wallet, 1740758400000LL, 1, &s, &wv, c, sm) != 0) {
            continue;
        }
        if (c[0] <= 10) {
            risk_table_screen_count(&s, 1, 1740758400000LL);
            r->allowed++;
        }
        risk_table_screen_end(&s);
    }
    return NULL;
}

TEST(risk_table_concurrent_screens_see_each_other)
{
    jz_id w = id_of('W', 9);
    int64_t win = 60 * MIN_MS;
    risk_table *t = table_with(&w, 1, &win, 1);
    REQUIRE(t != NULL);
    struct racer r[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct racer){.t = t, .wallet = w};
        REQUIRE(pthread_create(&th[i], NULL, race, &r[i]) == 0);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += r[i].allowed;
    }
    CHECK_EQ_INT(total, 10);
    risk_table_free(t);
}

TEST(risk_table_profiles_devices_and_capacity)
{
    risk_table *t = risk_table_new(2);
    REQUIRE(t != NULL);
    jz_id a = id_of('W', 1), b = id_of('W', 2), c = id_of('W', 3);
    struct risk_wallet p = {.operator_index = 2, .kind = LEDGER_WALLET_MERCHANT, .tier = 3,
                            .mcc = 5411, .open_seq = 17};
    CHECK_EQ_INT(risk_table_put_wallet(t, &a, &p), 0);
    p.tier = 1;
    CHECK_EQ_INT(risk_table_put_wallet(t, &a, &p), 0); /* a replayed open: first stands */
    CHECK_EQ_INT(risk_table_put_wallet(t, &b, &p), 0);
    CHECK_EQ_INT(risk_table_put_wallet(t, &c, &p), -1); /* full */
    struct risk_wallet out;
    REQUIRE(risk_table_get(t, &a, &out) == 0);
    CHECK_EQ_INT(out.tier, 3);
    CHECK_EQ_INT(out.mcc, 5411);
    CHECK_EQ_INT(out.open_seq, 17);
    risk_table_set_tier(t, &a, 2);
    REQUIRE(risk_table_get(t, &a, &out) == 0);
    CHECK_EQ_INT(out.tier, 2);
    CHECK_EQ_INT(risk_table_get(t, &c, &out), -1);
    jz_id d1 = id_of('D', 1), d2 = id_of('D', 2);
    CHECK(!risk_table_device(t, &a, &d1, 1000, true)); /* the first device is not a change */
    CHECK(!risk_table_device(t, &a, &d1, 2000, true));
    CHECK(risk_table_device(t, &a, &d2, 3000, false)); /* would change: nothing applied */
    REQUIRE(risk_table_get(t, &a, &out) == 0);
    CHECK_EQ_INT(out.device_changed_ms, 0);
    CHECK(risk_table_device(t, &a, &d2, 3000, true));
    REQUIRE(risk_table_get(t, &a, &out) == 0);
    CHECK_EQ_INT(out.device_changed_ms, 3000);
    risk_table_free(t);
}
