/*
 * test_ledger.c: explicit scenario tests for the ledger (src/ledger.h is the contract).
 *
 * Every test builds the same small world: central (actor 0) with the issuance account,
 * two operators "opa" and "opb" (actors 1 and 2) with their treasuries, each given a quota.
 * Commands go in one at a time (or as one batch for chains) at explicit timestamps, and each
 * test checks the result codes, the balances and counters, and conservation at the end.
 */
#include "test.h"

#include "command.h"
#include "common.h"
#include "ledger.h"

/* ---- Fixture ---- */

#define ACT_CENTRAL 0
#define ACT_A 1
#define ACT_B 2

/* 2026-06-15T04:00:00Z = noon in UTC+8, well inside a day and a year. */
#define T0 1781496000000LL
/* 2026-12-31T16:00:00.000Z = 2027-01-01T00:00:00.000 in UTC+8. */
#define T_NEWYEAR 1798732800000LL
#define DAY_MS (24LL * 3600 * 1000)
#define QUOTA 1000000000000LL /* 10 billion CNY in fen, issued to each treasury */

static ledger *L;
static uint64_t next_id_counter;

static jz_id idn(uint64_t n)
{
    jz_id id;
    memset(&id, 0, sizeof id);
    id.b[0] = 0x4a; /* never zero */
    for (int i = 0; i < 8; i++) {
        id.b[15 - i] = (uint8_t)(n >> (8 * i));
    }
    return id;
}

/* Fresh transfer/hold ids, distinct from wallet ids. */
static jz_id nid(void)
{
    return idn(0x1000000ULL + next_id_counter++);
}

#define ISSUANCE idn(1)
#define TREAS_A idn(2)
#define TREAS_B idn(3)

static struct ledger_cmd cmd_zero(uint8_t op, uint16_t actor)
{
    struct ledger_cmd c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.actor = actor;
    return c;
}

static struct ledger_cmd cmd_tx(uint16_t actor, int kind, jz_id id, jz_id debit, jz_id credit,
                                int64_t amount)
{
    struct ledger_cmd c = cmd_zero(LEDGER_OP_TRANSFER, actor);
    c.kind = (uint8_t)kind;
    c.id = id;
    c.debit = debit;
    c.credit = credit;
    c.amount = amount;
    return c;
}

static struct ledger_cmd cmd_hold(uint16_t actor, jz_id id, jz_id debit, jz_id credit,
                                  int64_t amount, int64_t timeout_ms)
{
    struct ledger_cmd c = cmd_zero(LEDGER_OP_HOLD_CREATE, actor);
    c.kind = LEDGER_KIND_PAYMENT;
    c.id = id;
    c.debit = debit;
    c.credit = credit;
    c.amount = amount;
    c.timeout_ms = timeout_ms;
    return c;
}

static struct ledger_cmd cmd_capture(uint16_t actor, jz_id hold, int64_t amount)
{
    struct ledger_cmd c = cmd_zero(LEDGER_OP_HOLD_CAPTURE, actor);
    c.id = hold;
    c.amount = amount;
    return c;
}

static struct ledger_cmd cmd_void(uint16_t actor, jz_id hold)
{
    struct ledger_cmd c = cmd_zero(LEDGER_OP_HOLD_VOID, actor);
    c.id = hold;
    return c;
}

static struct ledger_cmd cmd_open(uint16_t actor, jz_id id, int kind, int tier)
{
    struct ledger_cmd c = cmd_zero(LEDGER_OP_WALLET_OPEN, actor);
    c.id = id;
    c.kind = (uint8_t)kind;
    c.tier = (uint8_t)tier;
    c.form = LEDGER_FORM_SOFT;
    return c;
}

static struct ledger_cmd cmd_update(uint16_t actor, jz_id id, int tier, int status)
{
    struct ledger_cmd c = cmd_zero(LEDGER_OP_WALLET_UPDATE, actor);
    c.id = id;
    c.tier = (uint8_t)tier;
    c.status = (uint8_t)status;
    return c;
}

static struct ledger_cmd cmd_close(uint16_t actor, jz_id id)
{
    struct ledger_cmd c = cmd_zero(LEDGER_OP_WALLET_CLOSE, actor);
    c.id = id;
    return c;
}

static struct ledger_cmd cmd_inst(const char *inst, const char *name, jz_id treasury)
{
    struct ledger_cmd c = cmd_zero(LEDGER_OP_INSTITUTION_CREATE, ACT_CENTRAL);
    c.kind = LEDGER_INST_OPERATOR;
    snprintf(c.inst.s, sizeof c.inst.s, "%s", inst);
    size_t n = strlen(name);
    memcpy(c.name, name, n);
    c.name_len = (uint8_t)n;
    c.debit = treasury;
    return c;
}

/* Applies one command as its own batch. */
static struct ledger_result apply1(int64_t ts, struct ledger_cmd c)
{
    struct ledger_result r;
    memset(&r, 0xEE, sizeof r);
    ledger_apply_batch(L, ts, &c, 1, &r);
    return r;
}

static bool ideq(jz_id a, jz_id b)
{
    return jz_id_eq(&a, &b);
}

static int run(int64_t ts, struct ledger_cmd c)
{
    return apply1(ts, c).code;
}

/* An empty batch: only expires holds. */
static void tick(int64_t ts)
{
    struct ledger_cmd dummy;
    struct ledger_result r;
    memset(&dummy, 0, sizeof dummy);
    ledger_apply_batch(L, ts, &dummy, 0, &r);
}

/* A new ledger with central, opa and opb, and no quota issued yet. */
static bool fixture_institutions(const struct ledger_config *cfg, int64_t ts)
{
    ledger_free(L);
    L = ledger_new(cfg);
    if (L == NULL) {
        return false;
    }
    next_id_counter = 0;
    struct ledger_cmd g = cmd_zero(LEDGER_OP_GENESIS, 0);
    snprintf(g.inst.s, sizeof g.inst.s, "central");
    g.debit = ISSUANCE;
    return run(ts, g) == JZ_OK && run(ts, cmd_inst("opa", "Operator A", TREAS_A)) == JZ_OK &&
           run(ts, cmd_inst("opb", "Operator B", TREAS_B)) == JZ_OK;
}

static bool fixture_cfg(const struct ledger_config *cfg, int64_t ts)
{
    if (!fixture_institutions(cfg, ts)) {
        return false;
    }
    if (ledger_institution_index(L, "central") != ACT_CENTRAL ||
        ledger_institution_index(L, "opa") != ACT_A ||
        ledger_institution_index(L, "opb") != ACT_B) {
        return false;
    }
    if (run(ts, cmd_tx(ACT_CENTRAL, LEDGER_KIND_ISSUE, nid(), ISSUANCE, TREAS_A, QUOTA)) != JZ_OK ||
        run(ts, cmd_tx(ACT_CENTRAL, LEDGER_KIND_ISSUE, nid(), ISSUANCE, TREAS_B, QUOTA)) != JZ_OK) {
        return false;
    }
    return true;
}

static bool fixture_at(int64_t ts)
{
    struct ledger_config cfg;
    ledger_config_default(&cfg, 1000, 10000);
    return fixture_cfg(&cfg, ts);
}

#define SETUP_AT(ts) REQUIRE(fixture_at(ts))
#define SETUP() SETUP_AT(T0)

static const struct ledger_tier_limits *tier(int t)
{
    return &ledger_get_config(L)->tiers[t];
}

static struct ledger_wallet_view wv_at(jz_id id, int64_t now)
{
    struct ledger_wallet_view v;
    memset(&v, 0, sizeof v);
    if (ledger_wallet_get(L, &id, now, &v) != 0) {
        memset(&v, 0, sizeof v);
        v.status = 0xFF;
    }
    return v;
}

static int64_t bal(jz_id id)
{
    return wv_at(id, ledger_last_timestamp(L)).balance;
}

static int64_t held(jz_id id)
{
    return wv_at(id, ledger_last_timestamp(L)).held;
}

/* Conservation and invariants. */
#define CHECK_CONSERVED()                                          \
    do {                                                           \
        int64_t sum_ = -1;                                         \
        char why_[256] = "";                                       \
        CHECK_EQ_INT(ledger_balance_sum(L, &sum_), 0);             \
        CHECK_EQ_INT(sum_, 0);                                     \
        int inv_ = ledger_check_invariants(L, why_, sizeof why_);  \
        if (inv_ != 0) {                                           \
            test_fail(__FILE__, __LINE__, "invariants: %s", why_); \
        }                                                          \
    } while (0)

/* A wallet's money and counters are what they were (before: a ledger_wallet_view). */
#define CHECK_UNCHANGED(id, before, now)                       \
    do {                                                       \
        struct ledger_wallet_view after_ = wv_at((id), (now)); \
        CHECK_EQ_INT(after_.balance, (before).balance);        \
        CHECK_EQ_INT(after_.held, (before).held);              \
        CHECK_EQ_INT(after_.day_out, (before).day_out);        \
        CHECK_EQ_INT(after_.year_out, (before).year_out);      \
        CHECK_EQ_INT(after_.status, (before).status);          \
    } while (0)

#define CHECK_RES(r, c, f)             \
    do {                               \
        struct ledger_result r_ = (r); \
        CHECK_EQ_INT(r_.code, (c));    \
        CHECK_EQ_INT(r_.field, (f));   \
    } while (0)

/* Opens a wallet of operator `actor` (soft, no parent) and funds it from its treasury. */
static bool open_funded(int64_t ts, uint16_t actor, jz_id id, int kind, int tier_, int64_t amount)
{
    if (run(ts, cmd_open(actor, id, kind, tier_)) != JZ_OK) {
        return false;
    }
    if (amount > 0) {
        jz_id t = actor == ACT_A ? TREAS_A : TREAS_B;
        if (run(ts, cmd_tx(actor, LEDGER_KIND_EXCHANGE_IN, nid(), t, id, amount)) != JZ_OK) {
            return false;
        }
    }
    return true;
}

static int pay(int64_t ts, uint16_t actor, jz_id debit, jz_id credit, int64_t amount)
{
    return run(ts, cmd_tx(actor, LEDGER_KIND_PAYMENT, nid(), debit, credit, amount));
}

/* Spends `total` from w (an opa wallet) to `to` as payments, a daily limit's worth per day
 * (funded each day by exchange_in, which is not limited), starting at *ts; *ts ends one day
 * after the last day spent. */
static bool spend_days(int64_t *ts, jz_id w, jz_id to, int64_t total)
{
    const struct ledger_tier_limits *lim = tier(wv_at(w, *ts).tier);
    int64_t done = 0;
    while (done < total) {
        int64_t want = lim->per_day < total - done ? lim->per_day : total - done;
        if (run(*ts, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, w, want)) != JZ_OK) {
            return false;
        }
        int64_t today = 0;
        while (today < want) {
            int64_t a = want - today < lim->per_payment ? want - today : lim->per_payment;
            if (pay(*ts, ACT_A, w, to, a) != JZ_OK) {
                return false;
            }
            today += a;
        }
        done += today;
        *ts += DAY_MS;
    }
    return true;
}

/* Wallet ids. */
#define WA1 idn(0x101)
#define WA2 idn(0x102)
#define WA3 idn(0x103)
#define WA4 idn(0x104)
#define WB1 idn(0x201)
#define WB2 idn(0x202)

/* ---- Fixture sanity ---- */

TEST(ledger_fixture_world)
{
    SETUP();
    CHECK_EQ_INT(ledger_institution_count(L), 3);
    CHECK_EQ_INT(ledger_wallet_count(L), 3);
    CHECK_EQ_INT(bal(ISSUANCE), -2 * QUOTA);
    CHECK_EQ_INT(bal(TREAS_A), QUOTA);
    CHECK_EQ_INT(bal(TREAS_B), QUOTA);
    struct ledger_wallet_view v = wv_at(ISSUANCE, T0);
    CHECK_EQ_INT(v.kind, LEDGER_WALLET_TREASURY);
    CHECK_EQ_INT(v.tier, 1);
    CHECK_EQ_INT(v.status, LEDGER_STATUS_ACTIVE);
    CHECK_EQ_INT(v.operator_index, ACT_CENTRAL);
    v = wv_at(TREAS_B, T0);
    CHECK_EQ_INT(v.operator_index, ACT_B);
    CHECK_EQ_INT(v.kind, LEDGER_WALLET_TREASURY);
    struct ledger_institution_view iv;
    REQUIRE_EQ_INT(ledger_institution_get(L, "opa", &iv), 0);
    CHECK_EQ_STR(iv.name, "Operator A");
    CHECK_EQ_INT(iv.kind, LEDGER_INST_OPERATOR);
    CHECK(ideq(iv.treasury, TREAS_A));
    CHECK_EQ_INT(ledger_last_timestamp(L), T0);
    CHECK_CONSERVED();
}

/* ---- Limits ---- */

TEST(ledger_tier4_per_payment_at_limit_and_over)
{
    SETUP();
    const struct ledger_tier_limits *t4 = tier(4);
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 4, t4->balance_cap));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 1, 0));
    struct ledger_wallet_view before = wv_at(WA1, T0);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, t4->per_payment + 1)),
                 JZ_PER_PAYMENT_LIMIT);
    CHECK_UNCHANGED(WA1, before, T0);
    CHECK_EQ_INT(bal(WA2), 0);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, t4->per_payment)), JZ_OK);
    struct ledger_wallet_view v = wv_at(WA1, T0);
    CHECK_EQ_INT(v.balance, t4->balance_cap - t4->per_payment);
    CHECK_EQ_INT(v.day_out, t4->per_payment);
    CHECK_EQ_INT(v.year_out, t4->per_payment);
    CHECK_EQ_INT(bal(WA2), t4->per_payment);
    CHECK_CONSERVED();
}

TEST(ledger_tier4_daily_at_limit_and_over)
{
    SETUP();
    const struct ledger_tier_limits *t4 = tier(4);
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 4, t4->balance_cap));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_MERCHANT, 1, 0));
    int64_t spent = 0;
    while (spent + t4->per_payment <= t4->per_day) {
        REQUIRE_EQ_INT(pay(T0, ACT_A, WA1, WA2, t4->per_payment), JZ_OK);
        spent += t4->per_payment;
    }
    if (spent < t4->per_day) {
        REQUIRE_EQ_INT(pay(T0, ACT_A, WA1, WA2, t4->per_day - spent), JZ_OK);
        spent = t4->per_day;
    }
    struct ledger_wallet_view before = wv_at(WA1, T0);
    CHECK_EQ_INT(before.day_out, t4->per_day);
    CHECK_EQ_INT(pay(T0 + 1, ACT_A, WA1, WA2, 1), JZ_DAILY_LIMIT);
    CHECK_UNCHANGED(WA1, before, T0 + 1);
    CHECK_EQ_INT(bal(WA2), t4->per_day);
    CHECK_CONSERVED();
}

TEST(ledger_tier4_annual_at_limit_and_over)
{
    SETUP();
    const struct ledger_tier_limits *t4 = tier(4);
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 4, 0));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_MERCHANT, 1, 0));
    int64_t ts = T0;
    REQUIRE(spend_days(&ts, WA1, WA2, t4->per_year));
    REQUIRE_EQ_INT(run(ts, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, WA1, 1000)),
                   JZ_OK);
    struct ledger_wallet_view before = wv_at(WA1, ts);
    CHECK_EQ_INT(before.year_out, t4->per_year);
    CHECK_EQ_INT(before.day_out, 0);
    CHECK_EQ_INT(pay(ts, ACT_A, WA1, WA2, 1), JZ_ANNUAL_LIMIT);
    CHECK_UNCHANGED(WA1, before, ts);
    CHECK_EQ_INT(bal(WA2), t4->per_year);
    CHECK_CONSERVED();
}

TEST(ledger_tier4_balance_cap_at_limit_and_over)
{
    SETUP();
    const struct ledger_tier_limits *t4 = tier(4);
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 4, t4->balance_cap - 10));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 1, 100));
    struct ledger_wallet_view b1 = wv_at(WA1, T0);
    struct ledger_wallet_view b2 = wv_at(WA2, T0);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA2, WA1, 11)),
                 JZ_BALANCE_CAP_EXCEEDED);
    CHECK_UNCHANGED(WA1, b1, T0);
    CHECK_UNCHANGED(WA2, b2, T0);
    /* exchange_in is capped too */
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, WA1, 11)),
                 JZ_BALANCE_CAP_EXCEEDED);
    CHECK_UNCHANGED(WA1, b1, T0);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA2, WA1, 10)), JZ_OK);
    CHECK_EQ_INT(bal(WA1), t4->balance_cap);
    CHECK_EQ_INT(bal(WA2), 90);
    CHECK_CONSERVED();
}

TEST(ledger_tier1_unlimited)
{
    SETUP();
    int64_t big = 100000000000LL; /* 1e11 fen: beyond every tier 2 limit */
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 1, big * 3));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 1, 0));
    CHECK_EQ_INT(pay(T0, ACT_A, WA1, WA2, big), JZ_OK);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, big)), JZ_OK);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_BILL, nid(), WA1, WA2, big)), JZ_OK);
    struct ledger_wallet_view v = wv_at(WA1, T0);
    CHECK_EQ_INT(v.balance, 0);
    CHECK_EQ_INT(v.day_out, 3 * big);
    CHECK_EQ_INT(v.year_out, 3 * big);
    CHECK_EQ_INT(bal(WA2), 3 * big);
    CHECK_CONSERVED();
}

/* Per-payment, daily and cap limits of tier t for a wallet of kind wk, each exactly at the
 * limit (ok) and one fen over (refused, nothing changed). */
static void limits_scenario(int t, int wk, bool use_holds)
{
    const struct ledger_tier_limits *lim = tier(t);
    REQUIRE(open_funded(T0, ACT_A, WA1, wk, t, lim->balance_cap));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_MERCHANT, 1, 0));
    struct ledger_wallet_view before = wv_at(WA1, T0);
    CHECK_EQ_INT(before.balance, lim->balance_cap);
    /* cap: one fen more into the full wallet */
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, WA1, 1)),
                 JZ_BALANCE_CAP_EXCEEDED);
    CHECK_UNCHANGED(WA1, before, T0);
    CHECK_EQ_INT(bal(TREAS_A), QUOTA - lim->balance_cap);
    /* per payment */
    struct ledger_cmd over =
        use_holds ? cmd_hold(ACT_A, nid(), WA1, WA2, lim->per_payment + 1, 60000)
                  : cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, nid(), WA1, WA2, lim->per_payment + 1);
    CHECK_EQ_INT(run(T0, over), JZ_PER_PAYMENT_LIMIT);
    CHECK_UNCHANGED(WA1, before, T0);
    /* up to the daily limit exactly */
    int64_t spent = 0;
    while (spent < lim->per_day) {
        int64_t a =
            lim->per_day - spent < lim->per_payment ? lim->per_day - spent : lim->per_payment;
        struct ledger_cmd c = use_holds ? cmd_hold(ACT_A, nid(), WA1, WA2, a, 60000)
                                        : cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, nid(), WA1, WA2, a);
        REQUIRE_EQ_INT(run(T0, c), JZ_OK);
        spent += a;
    }
    before = wv_at(WA1, T0);
    CHECK_EQ_INT(before.day_out, lim->per_day);
    CHECK_EQ_INT(before.year_out, lim->per_day);
    if (use_holds) {
        CHECK_EQ_INT(before.held, lim->per_day);
        CHECK_EQ_INT(before.balance, lim->balance_cap);
    } else {
        CHECK_EQ_INT(before.balance, lim->balance_cap - lim->per_day);
        CHECK_EQ_INT(bal(WA2), lim->per_day);
    }
    struct ledger_cmd one = use_holds ? cmd_hold(ACT_A, nid(), WA1, WA2, 1, 60000)
                                      : cmd_tx(ACT_A, LEDGER_KIND_BILL, nid(), WA1, WA2, 1);
    CHECK_EQ_INT(run(T0, one), JZ_DAILY_LIMIT);
    CHECK_UNCHANGED(WA1, before, T0);
    CHECK_CONSERVED();
}

TEST(ledger_tier3_limits_personal)
{
    SETUP();
    limits_scenario(3, LEDGER_WALLET_PERSONAL, false);
}

TEST(ledger_tier2_limits_corporate)
{
    SETUP();
    limits_scenario(2, LEDGER_WALLET_CORPORATE, false);
}

TEST(ledger_tier4_limits_corporate)
{
    SETUP();
    limits_scenario(4, LEDGER_WALLET_CORPORATE, false);
}

TEST(ledger_tier3_limits_apply_to_holds)
{
    SETUP();
    limits_scenario(3, LEDGER_WALLET_PERSONAL, true);
}

TEST(ledger_tier2_3_have_no_annual_limit)
{
    SETUP();
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 3, 0));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_MERCHANT, 1, 0));
    int64_t ts = T0;
    /* more than tier 4's annual limit, in one calendar year */
    int64_t total = tier(4)->per_year + tier(3)->per_day;
    REQUIRE(spend_days(&ts, WA1, WA2, total));
    struct ledger_wallet_view v = wv_at(WA1, ts - DAY_MS);
    CHECK_EQ_INT(v.year_out, total);
    CHECK_EQ_INT(v.balance, 0);
    CHECK_EQ_INT(bal(WA2), total);
    CHECK_EQ_INT(ledger_year_of(ts), 2026);
    CHECK_CONSERVED();
}

TEST(ledger_limits_skip_merchant_debit_and_other_kinds)
{
    SETUP();
    const struct ledger_tier_limits *t4 = tier(4);
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_MERCHANT, 4, t4->balance_cap));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 4, t4->balance_cap));
    REQUIRE(open_funded(T0, ACT_A, WA3, LEDGER_WALLET_PERSONAL, 1, 0));
    /* a merchant pays more than per_payment and per_day of its tier */
    int64_t big = t4->per_day + 1;
    CHECK_EQ_INT(pay(T0, ACT_A, WA1, WA3, big), JZ_OK);
    CHECK_EQ_INT(bal(WA1), t4->balance_cap - big);
    /* a personal wallet's exchange_out and refund are not limited nor counted */
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_OUT, nid(), WA2, TREAS_A, big)), JZ_OK);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_REFUND, nid(), WA2, WA3, t4->per_payment + 1)),
                 JZ_OK);
    struct ledger_wallet_view v = wv_at(WA2, T0);
    CHECK_EQ_INT(v.balance, t4->balance_cap - big - t4->per_payment - 1);
    CHECK_EQ_INT(v.day_out, 0);
    CHECK_EQ_INT(v.year_out, 0);
    /* and the limits still hold for its p2p */
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA2, WA3, t4->per_payment + 1)),
                 JZ_PER_PAYMENT_LIMIT);
    CHECK_EQ_INT(bal(WA3), big + t4->per_payment + 1);
    CHECK_CONSERVED();
}

/* ---- Days and years in UTC+8 ---- */

TEST(ledger_day_year_of_boundaries)
{
    CHECK_EQ_INT(ledger_day_of(T_NEWYEAR - 1), 20818);
    CHECK_EQ_INT(ledger_day_of(T_NEWYEAR), 20819);
    CHECK_EQ_INT(ledger_year_of(T_NEWYEAR - 1), 2026);
    CHECK_EQ_INT(ledger_year_of(T_NEWYEAR), 2027);
    CHECK_EQ_INT(ledger_day_of(0), 0);
    CHECK_EQ_INT(ledger_year_of(0), 1970);
    CHECK_EQ_INT(ledger_day_of(-1), 0); /* 1970-01-01T07:59:59.999 in UTC+8 */
    CHECK_EQ_INT(ledger_year_of(-1), 1970);
    CHECK_EQ_INT(ledger_day_of(-28800000), 0);
    CHECK_EQ_INT(ledger_day_of(-28800001), -1); /* 1969-12-31T23:59:59.999 in UTC+8 */
    CHECK_EQ_INT(ledger_year_of(-28800001), 1969);
    CHECK_EQ_INT(ledger_year_of(-28800000), 1970);
    CHECK_EQ_INT(ledger_day_of(-28800001 - DAY_MS), -2);
    CHECK_EQ_INT(ledger_day_of(16 * 3600000LL - 1), 0);
    CHECK_EQ_INT(ledger_day_of(16 * 3600000LL), 1);
    /* a leap year's last day and the next year's first */
    CHECK_EQ_INT(ledger_year_of(1735660800000LL - 1), 2024);
    CHECK_EQ_INT(ledger_year_of(1735660800000LL), 2025);
    CHECK_EQ_INT(ledger_day_of(1735660800000LL), 20089);
    CHECK_EQ_INT(ledger_day_of(951840000000LL), 11017); /* 2000-03-01 in UTC+8 */
    CHECK_EQ_INT(ledger_day_of(951840000000LL - 1), 11016);
    CHECK_EQ_INT(ledger_year_of(T0), 2026);
}

TEST(ledger_day_rollover_at_utc8_midnight)
{
    SETUP_AT(T_NEWYEAR - 3600000); /* 2026-12-31T23:00 in UTC+8 */
    const struct ledger_tier_limits *t4 = tier(4);
    REQUIRE(
        open_funded(T_NEWYEAR - 3600000, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 4, t4->balance_cap));
    REQUIRE(open_funded(T_NEWYEAR - 3600000, ACT_A, WA2, LEDGER_WALLET_MERCHANT, 1, 0));
    int64_t last = T_NEWYEAR - 1; /* 15:59:59.999Z */
    int64_t spent = 0;
    while (spent < t4->per_day) {
        int64_t a = t4->per_day - spent < t4->per_payment ? t4->per_day - spent : t4->per_payment;
        REQUIRE_EQ_INT(pay(last, ACT_A, WA1, WA2, a), JZ_OK);
        spent += a;
    }
    CHECK_EQ_INT(pay(last, ACT_A, WA1, WA2, 1), JZ_DAILY_LIMIT);
    struct ledger_wallet_view v = wv_at(WA1, last);
    CHECK_EQ_INT(v.day_out, t4->per_day);
    CHECK_EQ_INT(v.year_out, t4->per_day);
    /* read at the new day: counters of the old day read as 0 */
    v = wv_at(WA1, T_NEWYEAR);
    CHECK_EQ_INT(v.day_out, 0);
    CHECK_EQ_INT(v.year_out, 0);
    CHECK_EQ_INT(v.balance, t4->balance_cap - t4->per_day);
    CHECK_EQ_INT(pay(T_NEWYEAR, ACT_A, WA1, WA2, t4->per_payment), JZ_OK);
    v = wv_at(WA1, T_NEWYEAR);
    CHECK_EQ_INT(v.day_out, t4->per_payment);
    CHECK_EQ_INT(v.year_out, t4->per_payment);
    CHECK_CONSERVED();
}

TEST(ledger_day_rollover_keeps_year_counter)
{
    SETUP();
    const struct ledger_tier_limits *t4 = tier(4);
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 4, t4->balance_cap));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_MERCHANT, 1, 0));
    REQUIRE_EQ_INT(pay(T0, ACT_A, WA1, WA2, 1234), JZ_OK);
    /* T0 is noon UTC+8: the day ends 12 hours later */
    int64_t next_day = T0 + 12 * 3600000LL;
    struct ledger_wallet_view v = wv_at(WA1, next_day - 1);
    CHECK_EQ_INT(v.day_out, 1234);
    v = wv_at(WA1, next_day);
    CHECK_EQ_INT(v.day_out, 0);
    CHECK_EQ_INT(v.year_out, 1234);
    REQUIRE_EQ_INT(pay(next_day, ACT_A, WA1, WA2, 66), JZ_OK);
    v = wv_at(WA1, next_day);
    CHECK_EQ_INT(v.day_out, 66);
    CHECK_EQ_INT(v.year_out, 1300);
    CHECK_CONSERVED();
}

TEST(ledger_year_rollover_resets_annual)
{
    int64_t start = T_NEWYEAR - 11 * DAY_MS; /* 2026-12-21T00:00 in UTC+8 */
    SETUP_AT(start);
    const struct ledger_tier_limits *t4 = tier(4);
    REQUIRE(open_funded(start, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 4, 0));
    REQUIRE(open_funded(start, ACT_A, WA2, LEDGER_WALLET_MERCHANT, 1, 0));
    int64_t ts = start;
    REQUIRE(spend_days(&ts, WA1, WA2, t4->per_year));
    REQUIRE(ts <= T_NEWYEAR - DAY_MS);
    int64_t last = T_NEWYEAR - 1;
    REQUIRE_EQ_INT(run(last, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, WA1, 500)),
                   JZ_OK);
    struct ledger_wallet_view before = wv_at(WA1, last);
    CHECK_EQ_INT(before.year_out, t4->per_year);
    CHECK_EQ_INT(before.day_out, 0);
    CHECK_EQ_INT(pay(last, ACT_A, WA1, WA2, 1), JZ_ANNUAL_LIMIT);
    CHECK_UNCHANGED(WA1, before, last);
    CHECK_EQ_INT(wv_at(WA1, T_NEWYEAR).year_out, 0);
    CHECK_EQ_INT(pay(T_NEWYEAR, ACT_A, WA1, WA2, 500), JZ_OK);
    struct ledger_wallet_view v = wv_at(WA1, T_NEWYEAR);
    CHECK_EQ_INT(v.year_out, 500);
    CHECK_EQ_INT(v.day_out, 500);
    CHECK_EQ_INT(v.balance, 0);
    CHECK_EQ_INT(bal(WA2), t4->per_year + 500);
    CHECK_CONSERVED();
}

/* ---- Idempotency ---- */

TEST(ledger_idem_id_of_another_institution_is_a_conflict)
{
    SETUP();
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2, 10000));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 2, 0));
    jz_id t = nid();
    struct ledger_cmd c = cmd_tx(ACT_A, LEDGER_KIND_P2P, t, WA1, WA2, 700);
    CHECK_EQ_INT(apply1(T0 + 10, c).code, JZ_OK);
    /* opb sends opa's id with opa's exact content: it must not learn opa's result. */
    c.actor = ACT_B;
    struct ledger_result r = apply1(T0 + 20, c);
    CHECK_EQ_INT(r.code, JZ_ID_CONFLICT);
    CHECK_EQ_INT(r.field, LEDGER_FIELD_ID);
    CHECK_EQ_INT(r.replayed, 0);
    CHECK_EQ_INT(bal(WA1), 9300);
    CHECK_CONSERVED();
}

TEST(ledger_idem_replay_of_success)
{
    SETUP();
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2, 10000));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 2, 0));
    jz_id t = nid();
    struct ledger_cmd c = cmd_tx(ACT_A, LEDGER_KIND_P2P, t, WA1, WA2, 700);
    struct ledger_result r = apply1(T0 + 10, c);
    CHECK_EQ_INT(r.code, JZ_OK);
    CHECK_EQ_INT(r.replayed, 0);
    CHECK_EQ_INT(r.timestamp, T0 + 10);
    uint64_t count = ledger_transfer_count(L);
    struct ledger_wallet_view b1 = wv_at(WA1, T0 + 5000);
    r = apply1(T0 + 5000, c);
    CHECK_EQ_INT(r.code, JZ_OK);
    CHECK_EQ_INT(r.replayed, 1);
    CHECK_EQ_INT(r.timestamp, T0 + 10);
    CHECK_UNCHANGED(WA1, b1, T0 + 5000);
    CHECK_EQ_INT(b1.balance, 9300);
    CHECK_EQ_INT(bal(WA2), 700);
    CHECK_EQ_INT(ledger_transfer_count(L), count);
    struct ledger_result first;
    REQUIRE_EQ_INT(ledger_transfer_result(L, &t, &first), 0);
    CHECK_EQ_INT(first.code, JZ_OK);
    CHECK_EQ_INT(first.replayed, 0);
    CHECK_EQ_INT(first.timestamp, T0 + 10);
    jz_id unknown = idn(0xdeadbeef);
    CHECK_EQ_INT(ledger_transfer_result(L, &unknown, &first), -1);
    CHECK_CONSERVED();
}

TEST(ledger_idem_replay_of_failure)
{
    SETUP();
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2, 100));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 2, 0));
    jz_id t = nid();
    struct ledger_cmd c = cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, t, WA1, WA2, 500);
    struct ledger_result r = apply1(T0 + 1, c);
    CHECK_EQ_INT(r.code, JZ_INSUFFICIENT_FUNDS);
    CHECK_EQ_INT(r.replayed, 0);
    /* now there is money, but the id remembers its first result */
    REQUIRE_EQ_INT(run(T0 + 2, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, WA1, 1000)),
                   JZ_OK);
    struct ledger_wallet_view b1 = wv_at(WA1, T0 + 3);
    r = apply1(T0 + 3, c);
    CHECK_EQ_INT(r.code, JZ_INSUFFICIENT_FUNDS);
    CHECK_EQ_INT(r.replayed, 1);
    CHECK_EQ_INT(r.timestamp, T0 + 1);
    CHECK_UNCHANGED(WA1, b1, T0 + 3);
    CHECK_EQ_INT(bal(WA2), 0);
    struct ledger_result first;
    REQUIRE_EQ_INT(ledger_transfer_result(L, &t, &first), 0);
    CHECK_EQ_INT(first.code, JZ_INSUFFICIENT_FUNDS);
    CHECK_EQ_INT(first.timestamp, T0 + 1);
    /* an invalid field is remembered too */
    jz_id t2 = nid();
    struct ledger_cmd bad = cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, t2, WA1, WA2, 0);
    CHECK_RES(apply1(T0 + 4, bad), JZ_INVALID_FIELD, LEDGER_FIELD_AMOUNT);
    r = apply1(T0 + 5, bad);
    CHECK_RES(r, JZ_INVALID_FIELD, LEDGER_FIELD_AMOUNT);
    CHECK_EQ_INT(r.replayed, 1);
    CHECK_EQ_INT(r.timestamp, T0 + 4);
    CHECK_CONSERVED();
}

static void set_str(char *dst, uint8_t *len, const char *s)
{
    size_t n = strlen(s);
    memcpy(dst, s, n);
    *len = (uint8_t)n;
}

TEST(ledger_idem_conflict_names_field)
{
    SETUP();
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2, 10000));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 2, 0));
    REQUIRE(open_funded(T0, ACT_A, WA3, LEDGER_WALLET_PERSONAL, 2, 10000));
    jz_id t = nid();
    struct ledger_cmd base = cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, t, WA1, WA2, 100);
    set_str(base.ref, &base.ref_len, "order-1");
    set_str(base.memo, &base.memo_len, "lunch");
    REQUIRE_EQ_INT(run(T0, base), JZ_OK);
    struct ledger_wallet_view b1 = wv_at(WA1, T0 + 1);
    struct ledger_wallet_view b2 = wv_at(WA2, T0 + 1);
    struct ledger_wallet_view b3 = wv_at(WA3, T0 + 1);

    struct ledger_cmd c = base;
    c.debit = WA3;
    CHECK_RES(apply1(T0 + 1, c), JZ_ID_CONFLICT, LEDGER_FIELD_DEBIT);
    c = base;
    c.credit = WA3;
    CHECK_RES(apply1(T0 + 1, c), JZ_ID_CONFLICT, LEDGER_FIELD_CREDIT);
    c = base;
    c.amount = 101;
    CHECK_RES(apply1(T0 + 1, c), JZ_ID_CONFLICT, LEDGER_FIELD_AMOUNT);
    c = base;
    c.kind = LEDGER_KIND_P2P;
    CHECK_RES(apply1(T0 + 1, c), JZ_ID_CONFLICT, LEDGER_FIELD_KIND);
    c = base;
    set_str(c.ref, &c.ref_len, "order-2");
    CHECK_RES(apply1(T0 + 1, c), JZ_ID_CONFLICT, LEDGER_FIELD_REF);
    c = base;
    set_str(c.memo, &c.memo_len, "dinner");
    CHECK_RES(apply1(T0 + 1, c), JZ_ID_CONFLICT, LEDGER_FIELD_MEMO);
    c = base;
    c.memo_len = 0;
    CHECK_RES(apply1(T0 + 1, c), JZ_ID_CONFLICT, LEDGER_FIELD_MEMO);
    /* the first differing field in contract order wins */
    c = base;
    c.amount = 5;
    set_str(c.memo, &c.memo_len, "other");
    c.credit = WA3;
    CHECK_RES(apply1(T0 + 1, c), JZ_ID_CONFLICT, LEDGER_FIELD_CREDIT);
    /* a hold with the transfer's id differs in KIND */
    c = cmd_hold(ACT_A, t, WA1, WA2, 100, 1000);
    set_str(c.ref, &c.ref_len, "order-1");
    set_str(c.memo, &c.memo_len, "lunch");
    CHECK_RES(apply1(T0 + 1, c), JZ_ID_CONFLICT, LEDGER_FIELD_KIND);
    /* LINKED: the same transfer flagged as the head of a chain */
    struct ledger_cmd chain[2];
    chain[0] = base;
    chain[0].flags = LEDGER_FLAG_LINKED;
    chain[1] = cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA3, WA2, 5);
    struct ledger_result rs[2];
    ledger_apply_batch(L, T0 + 1, chain, 2, rs);
    CHECK_RES(rs[0], JZ_ID_CONFLICT, LEDGER_FIELD_LINKED);
    CHECK_EQ_INT(rs[1].code, JZ_LINKED_FAILED);

    CHECK_UNCHANGED(WA1, b1, T0 + 1);
    CHECK_UNCHANGED(WA2, b2, T0 + 1);
    CHECK_UNCHANGED(WA3, b3, T0 + 1);
    struct ledger_result first;
    REQUIRE_EQ_INT(ledger_transfer_result(L, &t, &first), 0);
    CHECK_EQ_INT(first.code, JZ_OK);
    CHECK_EQ_INT(first.timestamp, T0);
    /* the original content still replays */
    struct ledger_result r = apply1(T0 + 2, base);
    CHECK_EQ_INT(r.code, JZ_OK);
    CHECK_EQ_INT(r.replayed, 1);
    CHECK_CONSERVED();
}

TEST(ledger_idem_conflict_on_hold_fields)
{
    SETUP();
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2, 10000));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_MERCHANT, 2, 0));
    jz_id h = nid();
    struct ledger_cmd base = cmd_hold(ACT_A, h, WA1, WA2, 300, 60000);
    REQUIRE_EQ_INT(run(T0, base), JZ_OK);
    struct ledger_cmd c = base;
    c.timeout_ms = 60001;
    CHECK_RES(apply1(T0 + 1, c), JZ_ID_CONFLICT, LEDGER_FIELD_TIMEOUT_MS);
    c = cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, h, WA1, WA2, 300);
    CHECK_RES(apply1(T0 + 1, c), JZ_ID_CONFLICT, LEDGER_FIELD_KIND);
    /* a hold's kind field is ignored: replaying with another kind is the same hold */
    c = base;
    c.kind = LEDGER_KIND_BILL;
    struct ledger_result r = apply1(T0 + 2, c);
    CHECK_EQ_INT(r.code, JZ_OK);
    CHECK_EQ_INT(r.replayed, 1);
    CHECK_EQ_INT(r.timestamp, T0);
    struct ledger_wallet_view v = wv_at(WA1, T0 + 2);
    CHECK_EQ_INT(v.held, 300);
    CHECK_EQ_INT(v.balance, 10000);
    CHECK_EQ_INT(v.day_out, 300);
    CHECK_CONSERVED();
}

TEST(ledger_idem_window_edge)
{
    SETUP();
    int64_t w = ledger_get_config(L)->idempotency_window_ms;
    CHECK_EQ_INT(w, JZ_IDEMPOTENCY_WINDOW_MS);
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 1, 10000));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 1, 0));
    jz_id t = nid();
    struct ledger_cmd c = cmd_tx(ACT_A, LEDGER_KIND_P2P, t, WA1, WA2, 250);
    REQUIRE_EQ_INT(run(T0, c), JZ_OK);
    struct ledger_result r = apply1(T0 + w, c);
    CHECK_EQ_INT(r.code, JZ_OK);
    CHECK_EQ_INT(r.replayed, 1);
    CHECK_EQ_INT(r.timestamp, T0);
    /* a conflicting content inside the window is a conflict */
    struct ledger_cmd c2 = c;
    c2.amount = 1;
    CHECK_RES(apply1(T0 + w, c2), JZ_ID_CONFLICT, LEDGER_FIELD_AMOUNT);
    struct ledger_wallet_view b1 = wv_at(WA1, T0 + w + 1);
    r = apply1(T0 + w + 1, c);
    CHECK_EQ_INT(r.code, JZ_ID_EXPIRED);
    CHECK_EQ_INT(r.replayed, 0);
    /* expiry is checked before content */
    CHECK_EQ_INT(run(T0 + w + 1, c2), JZ_ID_EXPIRED);
    CHECK_UNCHANGED(WA1, b1, T0 + w + 1);
    CHECK_EQ_INT(b1.balance, 9750);
    CHECK_EQ_INT(bal(WA2), 250);
    CHECK_CONSERVED();
}

TEST(ledger_transfer_field_checks)
{
    SETUP();
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 1, 10000));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 1, 0));
    struct ledger_wallet_view b1 = wv_at(WA1, T0);
    jz_id zero;
    memset(&zero, 0, sizeof zero);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, zero, WA1, WA2, 1)), JZ_INVALID_FIELD,
              LEDGER_FIELD_ID);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, 0)), JZ_INVALID_FIELD,
              LEDGER_FIELD_AMOUNT);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, -5)), JZ_INVALID_FIELD,
              LEDGER_FIELD_AMOUNT);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, JZ_AMOUNT_MAX + 1)),
              JZ_INVALID_FIELD, LEDGER_FIELD_AMOUNT);
    /* JZ_AMOUNT_MAX itself is a valid amount: it fails later, on funds */
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, JZ_AMOUNT_MAX)),
                 JZ_INSUFFICIENT_FUNDS);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, 0, nid(), WA1, WA2, 1)), JZ_INVALID_FIELD,
              LEDGER_FIELD_KIND);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_MAX + 1, nid(), WA1, WA2, 1)), JZ_INVALID_FIELD,
              LEDGER_FIELD_KIND);
    struct ledger_cmd c = cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, 1);
    c.ref_len = JZ_REF_MAX + 1;
    CHECK_EQ_INT(run(T0, c), JZ_INVALID_FIELD);
    c = cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, 1);
    c.memo_len = JZ_MEMO_MAX + 1;
    CHECK_EQ_INT(run(T0, c), JZ_INVALID_FIELD);
    /* amount is checked before existence of the wallets */
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), idn(0x999), WA2, 0)),
              JZ_INVALID_FIELD, LEDGER_FIELD_AMOUNT);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), idn(0x999), idn(0x998), 1)),
              JZ_WALLET_NOT_FOUND, LEDGER_FIELD_DEBIT);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, idn(0x998), 1)),
              JZ_WALLET_NOT_FOUND, LEDGER_FIELD_CREDIT);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA1, 1)), JZ_INVALID_FIELD,
              LEDGER_FIELD_CREDIT);
    /* hold timeouts */
    CHECK_RES(apply1(T0, cmd_hold(ACT_A, nid(), WA1, WA2, 1, 0)), JZ_INVALID_FIELD,
              LEDGER_FIELD_TIMEOUT_MS);
    CHECK_RES(apply1(T0, cmd_hold(ACT_A, nid(), WA1, WA2, 1, JZ_HOLD_TIMEOUT_MAX_MS + 1)),
              JZ_INVALID_FIELD, LEDGER_FIELD_TIMEOUT_MS);
    CHECK_UNCHANGED(WA1, b1, T0);
    CHECK_EQ_INT(bal(WA2), 0);
    jz_id h = nid();
    CHECK_EQ_INT(run(T0, cmd_hold(ACT_A, h, WA1, WA2, 1, JZ_HOLD_TIMEOUT_MAX_MS)), JZ_OK);
    struct ledger_hold_view hv;
    REQUIRE_EQ_INT(ledger_hold_get(L, &h, &hv), 0);
    CHECK_EQ_INT(hv.deadline, T0 + JZ_HOLD_TIMEOUT_MAX_MS);
    CHECK_EQ_INT(held(WA1), 1);
    CHECK_CONSERVED();
}

/* ---- Holds ---- */

static struct ledger_hold_view hv_of(jz_id h)
{
    struct ledger_hold_view v;
    memset(&v, 0, sizeof v);
    if (ledger_hold_get(L, &h, &v) != 0) {
        memset(&v, 0, sizeof v);
    }
    return v;
}

/* WA1: personal tier 2 with 1000 fen; WA2: merchant tier 2, empty. */
static bool hold_world(void)
{
    return fixture_at(T0) && open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2, 1000) &&
           open_funded(T0, ACT_A, WA2, LEDGER_WALLET_MERCHANT, 2, 0);
}

TEST(ledger_hold_create_reserves)
{
    REQUIRE(hold_world());
    jz_id h = nid();
    struct ledger_result r = apply1(T0 + 5, cmd_hold(ACT_A, h, WA1, WA2, 600, 10000));
    CHECK_EQ_INT(r.code, JZ_OK);
    struct ledger_wallet_view v = wv_at(WA1, T0 + 5);
    CHECK_EQ_INT(v.balance, 1000);
    CHECK_EQ_INT(v.held, 600);
    CHECK_EQ_INT(v.day_out, 600);
    CHECK_EQ_INT(v.year_out, 600);
    CHECK_EQ_INT(bal(WA2), 0);
    struct ledger_hold_view hv = hv_of(h);
    CHECK_EQ_INT(hv.status, LEDGER_HOLD_PENDING);
    CHECK_EQ_INT(hv.amount, 600);
    CHECK_EQ_INT(hv.captured, 0);
    CHECK_EQ_INT(hv.created_at, T0 + 5);
    CHECK_EQ_INT(hv.deadline, T0 + 5 + 10000);
    CHECK(ideq(hv.debit, WA1));
    CHECK(ideq(hv.credit, WA2));
    /* available = balance - held = 400 */
    struct ledger_wallet_view before = wv_at(WA1, T0 + 6);
    CHECK_EQ_INT(pay(T0 + 6, ACT_A, WA1, WA2, 401), JZ_INSUFFICIENT_FUNDS);
    CHECK_EQ_INT(run(T0 + 6, cmd_hold(ACT_A, nid(), WA1, WA2, 401, 10000)), JZ_INSUFFICIENT_FUNDS);
    CHECK_UNCHANGED(WA1, before, T0 + 6);
    CHECK_EQ_INT(pay(T0 + 6, ACT_A, WA1, WA2, 400), JZ_OK);
    v = wv_at(WA1, T0 + 6);
    CHECK_EQ_INT(v.balance, 600);
    CHECK_EQ_INT(v.held, 600);
    CHECK_EQ_INT(pay(T0 + 6, ACT_A, WA1, WA2, 1), JZ_INSUFFICIENT_FUNDS);
    /* replaying the hold does not reserve twice */
    r = apply1(T0 + 7, cmd_hold(ACT_A, h, WA1, WA2, 600, 10000));
    CHECK_EQ_INT(r.code, JZ_OK);
    CHECK_EQ_INT(r.replayed, 1);
    CHECK_EQ_INT(held(WA1), 600);
    CHECK_CONSERVED();
}

TEST(ledger_hold_capture_full)
{
    REQUIRE(hold_world());
    jz_id h = nid();
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h, WA1, WA2, 600, 10000)), JZ_OK);
    struct ledger_result r = apply1(T0 + 1, cmd_capture(ACT_A, h, 0));
    CHECK_EQ_INT(r.code, JZ_OK);
    struct ledger_wallet_view v = wv_at(WA1, T0 + 1);
    CHECK_EQ_INT(v.balance, 400);
    CHECK_EQ_INT(v.held, 0);
    CHECK_EQ_INT(v.day_out, 600);
    CHECK_EQ_INT(v.year_out, 600);
    CHECK_EQ_INT(bal(WA2), 600);
    struct ledger_hold_view hv = hv_of(h);
    CHECK_EQ_INT(hv.status, LEDGER_HOLD_CAPTURED);
    CHECK_EQ_INT(hv.captured, 600);
    CHECK_CONSERVED();
}

TEST(ledger_hold_capture_exact_amount)
{
    REQUIRE(hold_world());
    jz_id h = nid();
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h, WA1, WA2, 600, 10000)), JZ_OK);
    CHECK_EQ_INT(run(T0 + 1, cmd_capture(ACT_A, h, 600)), JZ_OK);
    CHECK_EQ_INT(bal(WA1), 400);
    CHECK_EQ_INT(held(WA1), 0);
    CHECK_EQ_INT(bal(WA2), 600);
    CHECK_EQ_INT(hv_of(h).captured, 600);
    CHECK_CONSERVED();
}

TEST(ledger_hold_capture_partial_releases_rest)
{
    REQUIRE(hold_world());
    jz_id h = nid();
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h, WA1, WA2, 600, 10000)), JZ_OK);
    CHECK_EQ_INT(run(T0 + 1, cmd_capture(ACT_A, h, 250)), JZ_OK);
    struct ledger_wallet_view v = wv_at(WA1, T0 + 1);
    CHECK_EQ_INT(v.balance, 750);
    CHECK_EQ_INT(v.held, 0);
    CHECK_EQ_INT(v.day_out, 250);
    CHECK_EQ_INT(v.year_out, 250);
    CHECK_EQ_INT(bal(WA2), 250);
    struct ledger_hold_view hv = hv_of(h);
    CHECK_EQ_INT(hv.status, LEDGER_HOLD_CAPTURED);
    CHECK_EQ_INT(hv.captured, 250);
    CHECK_EQ_INT(hv.amount, 600);
    /* the released rest is spendable */
    CHECK_EQ_INT(pay(T0 + 2, ACT_A, WA1, WA2, 750), JZ_OK);
    CHECK_EQ_INT(bal(WA1), 0);
    CHECK_CONSERVED();
}

TEST(ledger_hold_capture_partial_next_day_keeps_only_year_release)
{
    REQUIRE(hold_world());
    jz_id h = nid();
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h, WA1, WA2, 600, 2 * DAY_MS)), JZ_OK);
    int64_t next = T0 + DAY_MS;
    CHECK_EQ_INT(run(next, cmd_capture(ACT_A, h, 200)), JZ_OK);
    struct ledger_wallet_view v = wv_at(WA1, next);
    CHECK_EQ_INT(v.balance, 800);
    CHECK_EQ_INT(v.held, 0);
    CHECK_EQ_INT(v.day_out, 0);    /* a new day: the hold counted on yesterday */
    CHECK_EQ_INT(v.year_out, 200); /* same year: the uncaptured 400 is released */
    CHECK_EQ_INT(bal(WA2), 200);
    CHECK_CONSERVED();
}

TEST(ledger_hold_void_releases)
{
    REQUIRE(hold_world());
    jz_id h = nid();
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h, WA1, WA2, 600, 10000)), JZ_OK);
    CHECK_EQ_INT(run(T0 + 1, cmd_void(ACT_A, h)), JZ_OK);
    struct ledger_wallet_view v = wv_at(WA1, T0 + 1);
    CHECK_EQ_INT(v.balance, 1000);
    CHECK_EQ_INT(v.held, 0);
    CHECK_EQ_INT(v.day_out, 0);
    CHECK_EQ_INT(v.year_out, 0);
    CHECK_EQ_INT(bal(WA2), 0);
    CHECK_EQ_INT(hv_of(h).status, LEDGER_HOLD_VOIDED);
    CHECK_EQ_INT(hv_of(h).captured, 0);
    CHECK_CONSERVED();
}

TEST(ledger_hold_second_resolution_already_resolved)
{
    REQUIRE(hold_world());
    jz_id h1 = nid();
    jz_id h2 = nid();
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h1, WA1, WA2, 300, 10000)), JZ_OK);
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h2, WA1, WA2, 200, 10000)), JZ_OK);
    REQUIRE_EQ_INT(run(T0 + 1, cmd_capture(ACT_A, h1, 100)), JZ_OK);
    REQUIRE_EQ_INT(run(T0 + 1, cmd_void(ACT_A, h2)), JZ_OK);
    struct ledger_wallet_view b1 = wv_at(WA1, T0 + 2);
    struct ledger_wallet_view b2 = wv_at(WA2, T0 + 2);
    CHECK_EQ_INT(run(T0 + 2, cmd_capture(ACT_A, h1, 0)), JZ_ALREADY_RESOLVED);
    CHECK_EQ_INT(run(T0 + 2, cmd_capture(ACT_A, h1, 100)), JZ_ALREADY_RESOLVED);
    CHECK_EQ_INT(run(T0 + 2, cmd_void(ACT_A, h1)), JZ_ALREADY_RESOLVED);
    CHECK_EQ_INT(run(T0 + 2, cmd_capture(ACT_A, h2, 0)), JZ_ALREADY_RESOLVED);
    CHECK_EQ_INT(run(T0 + 2, cmd_void(ACT_A, h2)), JZ_ALREADY_RESOLVED);
    CHECK_UNCHANGED(WA1, b1, T0 + 2);
    CHECK_UNCHANGED(WA2, b2, T0 + 2);
    CHECK_EQ_INT(b1.balance, 900);
    CHECK_EQ_INT(b1.held, 0);
    CHECK_EQ_INT(b1.day_out, 100);
    CHECK_EQ_INT(hv_of(h1).status, LEDGER_HOLD_CAPTURED);
    CHECK_EQ_INT(hv_of(h1).captured, 100);
    CHECK_EQ_INT(hv_of(h2).status, LEDGER_HOLD_VOIDED);
    CHECK_CONSERVED();
}

TEST(ledger_hold_expiry_at_deadline)
{
    REQUIRE(hold_world());
    jz_id h = nid();
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h, WA1, WA2, 1000, 1000)), JZ_OK);
    tick(T0 + 999);
    CHECK_EQ_INT(hv_of(h).status, LEDGER_HOLD_PENDING);
    CHECK_EQ_INT(held(WA1), 1000);
    CHECK_EQ_INT(pay(T0 + 999, ACT_A, WA1, WA2, 1), JZ_INSUFFICIENT_FUNDS);
    /* the first batch at the deadline expires it before its commands run */
    CHECK_EQ_INT(pay(T0 + 1000, ACT_A, WA1, WA2, 1000), JZ_OK);
    CHECK_EQ_INT(hv_of(h).status, LEDGER_HOLD_EXPIRED);
    CHECK_EQ_INT(hv_of(h).captured, 0);
    struct ledger_wallet_view v = wv_at(WA1, T0 + 1000);
    CHECK_EQ_INT(v.balance, 0);
    CHECK_EQ_INT(v.held, 0);
    CHECK_EQ_INT(v.day_out, 1000); /* the hold's 1000 was released, the payment's counted */
    CHECK_EQ_INT(bal(WA2), 1000);
    CHECK_EQ_INT(run(T0 + 1001, cmd_capture(ACT_A, h, 0)), JZ_ALREADY_RESOLVED);
    CHECK_EQ_INT(run(T0 + 1001, cmd_void(ACT_A, h)), JZ_ALREADY_RESOLVED);
    CHECK_CONSERVED();
}

TEST(ledger_hold_expiry_by_empty_batch_after_deadline)
{
    REQUIRE(hold_world());
    jz_id h1 = nid();
    jz_id h2 = nid();
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h1, WA1, WA2, 300, 5000)), JZ_OK);
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h2, WA1, WA2, 200, 50000)), JZ_OK);
    tick(T0 + 40000);
    CHECK_EQ_INT(hv_of(h1).status, LEDGER_HOLD_EXPIRED);
    CHECK_EQ_INT(hv_of(h2).status, LEDGER_HOLD_PENDING);
    struct ledger_wallet_view v = wv_at(WA1, T0 + 40000);
    CHECK_EQ_INT(v.held, 200);
    CHECK_EQ_INT(v.day_out, 200);
    CHECK_EQ_INT(v.balance, 1000);
    CHECK_CONSERVED();
}

TEST(ledger_hold_capture_errors)
{
    REQUIRE(hold_world());
    REQUIRE(open_funded(T0, ACT_B, WB1, LEDGER_WALLET_PERSONAL, 2, 0));
    jz_id h = nid();
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h, WA1, WA2, 600, 10000)), JZ_OK);
    struct ledger_wallet_view b1 = wv_at(WA1, T0 + 1);
    CHECK_RES(apply1(T0 + 1, cmd_capture(ACT_A, h, 601)), JZ_AMOUNT_EXCEEDS_HOLD,
              LEDGER_FIELD_AMOUNT);
    CHECK_RES(apply1(T0 + 1, cmd_capture(ACT_A, h, -1)), JZ_AMOUNT_EXCEEDS_HOLD,
              LEDGER_FIELD_AMOUNT);
    CHECK_RES(apply1(T0 + 1, cmd_capture(ACT_A, idn(0x777777), 0)), JZ_HOLD_NOT_FOUND,
              LEDGER_FIELD_ID);
    CHECK_EQ_INT(run(T0 + 1, cmd_void(ACT_A, idn(0x777777))), JZ_HOLD_NOT_FOUND);
    CHECK_EQ_INT(run(T0 + 1, cmd_capture(ACT_B, h, 0)), JZ_FORBIDDEN);
    CHECK_EQ_INT(run(T0 + 1, cmd_void(ACT_B, h)), JZ_FORBIDDEN);
    CHECK_EQ_INT(run(T0 + 1, cmd_capture(ACT_CENTRAL, h, 0)), JZ_FORBIDDEN);
    /* a transfer id is not a hold */
    jz_id t = nid();
    REQUIRE_EQ_INT(run(T0 + 1, cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, t, WA2, WB1, 0 + 1)),
                   JZ_INSUFFICIENT_FUNDS);
    CHECK_EQ_INT(run(T0 + 1, cmd_capture(ACT_A, t, 0)), JZ_HOLD_NOT_FOUND);
    CHECK_UNCHANGED(WA1, b1, T0 + 1);
    CHECK_EQ_INT(bal(WA2), 0);
    CHECK_EQ_INT(hv_of(h).status, LEDGER_HOLD_PENDING);
    /* still capturable afterwards */
    CHECK_EQ_INT(run(T0 + 2, cmd_capture(ACT_A, h, 600)), JZ_OK);
    CHECK_EQ_INT(bal(WA2), 600);
    CHECK_CONSERVED();
}

TEST(ledger_hold_capture_statuses_and_cap)
{
    REQUIRE(hold_world());
    const struct ledger_tier_limits *t4 = tier(4);
    REQUIRE(open_funded(T0, ACT_A, WA3, LEDGER_WALLET_MERCHANT, 4, t4->balance_cap - 100));
    jz_id h1 = nid();
    jz_id h2 = nid();
    jz_id h3 = nid();
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h1, WA1, WA2, 100, 10000)), JZ_OK);
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h2, WA1, WA3, 100, 10000)), JZ_OK);
    /* cap is checked at creation */
    CHECK_EQ_INT(run(T0, cmd_hold(ACT_A, nid(), WA1, WA3, 101, 10000)), JZ_BALANCE_CAP_EXCEEDED);
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h3, WA1, WA2, 100, 10000)), JZ_OK);
    /* credit frozen: capture refused */
    REQUIRE_EQ_INT(run(T0 + 1, cmd_update(ACT_A, WA2, 0, LEDGER_STATUS_FROZEN)), JZ_OK);
    struct ledger_wallet_view b1 = wv_at(WA1, T0 + 1);
    CHECK_RES(apply1(T0 + 1, cmd_capture(ACT_A, h1, 0)), JZ_WALLET_FROZEN, LEDGER_FIELD_CREDIT);
    REQUIRE_EQ_INT(run(T0 + 1, cmd_update(ACT_A, WA2, 0, LEDGER_STATUS_LOST)), JZ_OK);
    CHECK_RES(apply1(T0 + 1, cmd_capture(ACT_A, h1, 0)), JZ_WALLET_LOST, LEDGER_FIELD_CREDIT);
    CHECK_UNCHANGED(WA1, b1, T0 + 1);
    CHECK_EQ_INT(hv_of(h1).status, LEDGER_HOLD_PENDING);
    REQUIRE_EQ_INT(run(T0 + 1, cmd_update(ACT_A, WA2, 0, LEDGER_STATUS_ACTIVE)), JZ_OK);
    /* the credit filled up meanwhile: capture past its cap refused */
    REQUIRE_EQ_INT(run(T0 + 1, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, WA3, 1)),
                   JZ_OK);
    CHECK_EQ_INT(run(T0 + 1, cmd_capture(ACT_A, h2, 0)), JZ_BALANCE_CAP_EXCEEDED);
    CHECK_EQ_INT(run(T0 + 1, cmd_capture(ACT_A, h2, 99)), JZ_OK);
    CHECK_EQ_INT(bal(WA3), t4->balance_cap);
    /* debit frozen: capture still goes through (the money was reserved) */
    REQUIRE_EQ_INT(run(T0 + 2, cmd_update(ACT_A, WA1, 0, LEDGER_STATUS_FROZEN)), JZ_OK);
    CHECK_EQ_INT(run(T0 + 2, cmd_capture(ACT_A, h1, 0)), JZ_OK);
    REQUIRE_EQ_INT(run(T0 + 2, cmd_update(ACT_A, WA1, 0, LEDGER_STATUS_LOST)), JZ_OK);
    CHECK_EQ_INT(run(T0 + 2, cmd_capture(ACT_A, h3, 0)), JZ_OK);
    struct ledger_wallet_view v = wv_at(WA1, T0 + 2);
    CHECK_EQ_INT(v.balance, 1000 - 100 - 99 - 100);
    CHECK_EQ_INT(v.held, 0);
    CHECK_EQ_INT(bal(WA2), 200);
    CHECK_CONSERVED();
}

/* ---- Linked chains ---- */

/* WA1: personal tier 1 with 1000; WA2: personal tier 1, empty. */
static bool chain_world(void)
{
    return fixture_at(T0) && open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 1, 1000) &&
           open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 1, 0);
}

static int remembered(jz_id id)
{
    struct ledger_result r;
    if (ledger_transfer_result(L, &id, &r) != 0) {
        return -1;
    }
    return r.code;
}

TEST(ledger_chain_all_ok_sees_earlier_effects)
{
    REQUIRE(chain_world());
    struct ledger_cmd c[3];
    c[0] = cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, WA2, 500);
    c[0].flags = LEDGER_FLAG_LINKED;
    c[1] = cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA2, WA1, 500); /* needs c[0]'s money */
    c[1].flags = LEDGER_FLAG_LINKED;
    c[2] = cmd_hold(ACT_A, nid(), WA1, WA2, 1500, 1000);
    struct ledger_result r[3];
    ledger_apply_batch(L, T0 + 1, c, 3, r);
    CHECK_EQ_INT(r[0].code, JZ_OK);
    CHECK_EQ_INT(r[1].code, JZ_OK);
    CHECK_EQ_INT(r[2].code, JZ_OK);
    struct ledger_wallet_view v = wv_at(WA1, T0 + 1);
    CHECK_EQ_INT(v.balance, 1500);
    CHECK_EQ_INT(v.held, 1500);
    CHECK_EQ_INT(bal(WA2), 0);
    CHECK_EQ_INT(bal(TREAS_A), QUOTA - 1500);
    CHECK_CONSERVED();
}

TEST(ledger_chain_failure_in_middle_undoes_all)
{
    REQUIRE(chain_world());
    jz_id t1 = nid(), t2 = nid(), t3 = nid(), t4 = nid();
    struct ledger_cmd c[4];
    c[0] = cmd_tx(ACT_A, LEDGER_KIND_P2P, t1, WA1, WA2, 300);
    c[0].flags = LEDGER_FLAG_LINKED;
    c[1] = cmd_hold(ACT_A, t2, WA1, WA2, 200, 5000);
    c[1].flags = LEDGER_FLAG_LINKED;
    c[2] = cmd_tx(ACT_A, LEDGER_KIND_P2P, t3, WA2, WA1, 5000); /* WA2 has only 300 */
    c[2].flags = LEDGER_FLAG_LINKED;
    c[3] = cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, t4, WA1, WA2, 100);
    struct ledger_wallet_view b1 = wv_at(WA1, T0 + 1);
    struct ledger_wallet_view b2 = wv_at(WA2, T0 + 1);
    struct ledger_result r[4];
    ledger_apply_batch(L, T0 + 1, c, 4, r);
    CHECK_EQ_INT(r[0].code, JZ_LINKED_FAILED);
    CHECK_EQ_INT(r[1].code, JZ_LINKED_FAILED);
    CHECK_EQ_INT(r[2].code, JZ_INSUFFICIENT_FUNDS);
    CHECK_EQ_INT(r[3].code, JZ_LINKED_FAILED);
    CHECK_UNCHANGED(WA1, b1, T0 + 1);
    CHECK_UNCHANGED(WA2, b2, T0 + 1);
    CHECK_EQ_INT(b1.balance, 1000);
    CHECK_EQ_INT(b1.day_out, 0);
    struct ledger_hold_view hv;
    if (ledger_hold_get(L, &t2, &hv) == 0) {
        CHECK(hv.status != LEDGER_HOLD_PENDING);
    }
    /* the undone hold cannot be captured */
    CHECK(run(T0 + 1, cmd_capture(ACT_A, t2, 0)) != JZ_OK);
    CHECK_EQ_INT(bal(WA2), 0);
    CHECK_EQ_INT(remembered(t1), JZ_LINKED_FAILED);
    CHECK_EQ_INT(remembered(t2), JZ_LINKED_FAILED);
    CHECK_EQ_INT(remembered(t3), JZ_INSUFFICIENT_FUNDS);
    CHECK_EQ_INT(remembered(t4), JZ_LINKED_FAILED);
    /* replaying the last member alone returns linked_failed, moving nothing */
    struct ledger_result rr = apply1(T0 + 2, c[3]);
    CHECK_EQ_INT(rr.code, JZ_LINKED_FAILED);
    CHECK_EQ_INT(rr.replayed, 1);
    CHECK_EQ_INT(rr.timestamp, T0 + 1);
    /* replaying the whole chain: the first member replays linked_failed, which fails the
     * chain; the others get linked_failed and no remembered result changes */
    ledger_apply_batch(L, T0 + 3, c, 4, r);
    CHECK_EQ_INT(r[0].code, JZ_LINKED_FAILED);
    CHECK_EQ_INT(r[0].replayed, 1);
    CHECK_EQ_INT(r[0].timestamp, T0 + 1);
    CHECK_EQ_INT(r[1].code, JZ_LINKED_FAILED);
    CHECK_EQ_INT(r[2].code, JZ_LINKED_FAILED);
    CHECK_EQ_INT(r[3].code, JZ_LINKED_FAILED);
    CHECK_EQ_INT(remembered(t3), JZ_INSUFFICIENT_FUNDS);
    CHECK_EQ_INT(remembered(t1), JZ_LINKED_FAILED);
    CHECK_UNCHANGED(WA1, b1, T0 + 3);
    CHECK_UNCHANGED(WA2, b2, T0 + 3);
    CHECK_CONSERVED();
}

TEST(ledger_chain_open_at_batch_end)
{
    REQUIRE(chain_world());
    jz_id pre = nid();
    jz_id t1 = nid(), t2 = nid();
    struct ledger_cmd c[3];
    c[0] = cmd_tx(ACT_A, LEDGER_KIND_P2P, pre, WA1, WA2, 10); /* its own chain of one */
    c[1] = cmd_tx(ACT_A, LEDGER_KIND_P2P, t1, WA1, WA2, 100);
    c[1].flags = LEDGER_FLAG_LINKED;
    c[2] = cmd_hold(ACT_A, t2, WA1, WA2, 100, 5000);
    c[2].flags = LEDGER_FLAG_LINKED;
    struct ledger_result r[3];
    ledger_apply_batch(L, T0 + 1, c, 3, r);
    CHECK_EQ_INT(r[0].code, JZ_OK);
    CHECK_EQ_INT(r[1].code, JZ_LINKED_OPEN);
    CHECK_EQ_INT(r[2].code, JZ_LINKED_OPEN);
    struct ledger_wallet_view v = wv_at(WA1, T0 + 1);
    CHECK_EQ_INT(v.balance, 990);
    CHECK_EQ_INT(v.held, 0);
    CHECK_EQ_INT(v.day_out, 10);
    CHECK_EQ_INT(bal(WA2), 10);
    CHECK_EQ_INT(remembered(t1), JZ_LINKED_OPEN);
    CHECK_EQ_INT(remembered(t2), JZ_LINKED_OPEN);
    CHECK_CONSERVED();
}

TEST(ledger_chain_non_transfer_member_invalid_linked)
{
    REQUIRE(chain_world());
    /* a wallet open flagged linked */
    struct ledger_cmd o = cmd_open(ACT_A, WA3, LEDGER_WALLET_PERSONAL, 2);
    o.flags = LEDGER_FLAG_LINKED;
    struct ledger_cmd c[2];
    c[0] = o;
    c[1] = cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, 100);
    struct ledger_result r[2];
    uint32_t wallets = ledger_wallet_count(L);
    ledger_apply_batch(L, T0 + 1, c, 2, r);
    CHECK_RES(r[0], JZ_INVALID_FIELD, LEDGER_FIELD_LINKED);
    CHECK_EQ_INT(r[1].code, JZ_LINKED_FAILED);
    CHECK_EQ_INT(ledger_wallet_count(L), wallets);
    CHECK_EQ_INT(wv_at(WA3, T0 + 1).status, 0xFF);
    CHECK_EQ_INT(bal(WA1), 1000);
    /* alone and flagged, it is also a chain left open at the end of the batch: the contract
     * allows reading either rule first (invalid_field LINKED or linked_chain_open); either
     * way it is refused and opens nothing */
    struct ledger_result ro = apply1(T0 + 1, o);
    CHECK(ro.code == JZ_INVALID_FIELD || ro.code == JZ_LINKED_OPEN);
    if (ro.code == JZ_INVALID_FIELD) {
        CHECK_EQ_INT(ro.field, LEDGER_FIELD_LINKED);
    }
    CHECK_EQ_INT(ledger_wallet_count(L), wallets);
    /* a transfer chained to a wallet open (which ends the chain) */
    c[0] = cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, 100);
    c[0].flags = LEDGER_FLAG_LINKED;
    c[1] = cmd_open(ACT_A, WA3, LEDGER_WALLET_PERSONAL, 2);
    ledger_apply_batch(L, T0 + 2, c, 2, r);
    CHECK_EQ_INT(r[0].code, JZ_LINKED_FAILED);
    CHECK_RES(r[1], JZ_INVALID_FIELD, LEDGER_FIELD_LINKED);
    CHECK_EQ_INT(ledger_wallet_count(L), wallets);
    CHECK_EQ_INT(bal(WA1), 1000);
    CHECK_EQ_INT(bal(WA2), 0);
    /* capture and void cannot be members either */
    jz_id h = nid();
    REQUIRE_EQ_INT(run(T0 + 3, cmd_hold(ACT_A, h, WA1, WA2, 50, 60000)), JZ_OK);
    c[0] = cmd_capture(ACT_A, h, 0);
    c[0].flags = LEDGER_FLAG_LINKED;
    c[1] = cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, 1);
    ledger_apply_batch(L, T0 + 4, c, 2, r);
    CHECK_RES(r[0], JZ_INVALID_FIELD, LEDGER_FIELD_LINKED);
    CHECK_EQ_INT(r[1].code, JZ_LINKED_FAILED);
    CHECK_EQ_INT(hv_of(h).status, LEDGER_HOLD_PENDING);
    CHECK_EQ_INT(held(WA1), 50);
    CHECK_EQ_INT(bal(WA2), 0);
    CHECK_CONSERVED();
}

TEST(ledger_chain_with_replayed_ids)
{
    REQUIRE(chain_world());
    jz_id okid = nid();
    jz_id badid = nid();
    struct ledger_cmd okc = cmd_tx(ACT_A, LEDGER_KIND_P2P, okid, WA1, WA2, 100);
    okc.flags = LEDGER_FLAG_LINKED;
    struct ledger_cmd badc = cmd_tx(ACT_A, LEDGER_KIND_P2P, badid, WA2, WA1, 100000);
    badc.flags = LEDGER_FLAG_LINKED;
    /* first runs: okc in a chain that succeeds, badc in one that fails */
    struct ledger_cmd c[2];
    struct ledger_result r[2];
    c[0] = okc;
    c[1] = cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, 1);
    ledger_apply_batch(L, T0 + 1, c, 2, r);
    REQUIRE_EQ_INT(r[0].code, JZ_OK);
    REQUIRE_EQ_INT(r[1].code, JZ_OK);
    c[0] = badc;
    c[1] = cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, 1);
    ledger_apply_batch(L, T0 + 1, c, 2, r);
    REQUIRE_EQ_INT(r[0].code, JZ_INSUFFICIENT_FUNDS);
    REQUIRE_EQ_INT(r[1].code, JZ_LINKED_FAILED);
    CHECK_EQ_INT(bal(WA1), 899);
    /* a replay of an ok id counts as success */
    jz_id n1 = nid();
    c[0] = okc;
    c[1] = cmd_tx(ACT_A, LEDGER_KIND_P2P, n1, WA1, WA2, 9);
    ledger_apply_batch(L, T0 + 2, c, 2, r);
    CHECK_EQ_INT(r[0].code, JZ_OK);
    CHECK_EQ_INT(r[0].replayed, 1);
    CHECK_EQ_INT(r[1].code, JZ_OK);
    CHECK_EQ_INT(bal(WA1), 890);
    /* a replay of a failed id fails the chain */
    jz_id n2 = nid();
    c[0] = badc;
    c[1] = cmd_tx(ACT_A, LEDGER_KIND_P2P, n2, WA1, WA2, 9);
    ledger_apply_batch(L, T0 + 3, c, 2, r);
    CHECK_EQ_INT(r[0].code, JZ_INSUFFICIENT_FUNDS);
    CHECK_EQ_INT(r[0].replayed, 1);
    CHECK_EQ_INT(r[1].code, JZ_LINKED_FAILED);
    CHECK_EQ_INT(remembered(n2), JZ_LINKED_FAILED);
    CHECK_EQ_INT(bal(WA1), 890);
    /* a chain failing after an ok replay: the replayed id's first result and money stay */
    jz_id n3 = nid();
    c[0] = okc;
    c[1] = cmd_tx(ACT_A, LEDGER_KIND_P2P, n3, WA2, WA1, 1000000);
    ledger_apply_batch(L, T0 + 4, c, 2, r);
    CHECK_EQ_INT(r[1].code, JZ_INSUFFICIENT_FUNDS);
    CHECK_EQ_INT(remembered(okid), JZ_OK);
    CHECK_EQ_INT(remembered(badid), JZ_INSUFFICIENT_FUNDS);
    CHECK_EQ_INT(bal(WA1), 890);
    CHECK_EQ_INT(bal(WA2), 110);
    CHECK_CONSERVED();
}

/* ---- Wallet statuses ---- */

/* WA1 (tier 1, 1000), WA2 (tier 1, 1000) of opa. */
static bool status_world(void)
{
    return fixture_at(T0) && open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 1, 1000) &&
           open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 1, 1000);
}

static void status_both_sides(int status, int code)
{
    REQUIRE(status_world());
    REQUIRE_EQ_INT(run(T0 + 1, cmd_update(ACT_A, WA1, 0, status)), JZ_OK);
    CHECK_EQ_INT(wv_at(WA1, T0 + 1).status, status);
    struct ledger_wallet_view b1 = wv_at(WA1, T0 + 1);
    struct ledger_wallet_view b2 = wv_at(WA2, T0 + 1);
    CHECK_RES(apply1(T0 + 1, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, 1)), code,
              LEDGER_FIELD_DEBIT);
    CHECK_RES(apply1(T0 + 1, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA2, WA1, 1)), code,
              LEDGER_FIELD_CREDIT);
    CHECK_RES(apply1(T0 + 1, cmd_hold(ACT_A, nid(), WA1, WA2, 1, 1000)), code, LEDGER_FIELD_DEBIT);
    CHECK_RES(apply1(T0 + 1, cmd_hold(ACT_A, nid(), WA2, WA1, 1, 1000)), code, LEDGER_FIELD_CREDIT);
    CHECK_RES(apply1(T0 + 1, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, WA1, 1)), code,
              LEDGER_FIELD_CREDIT);
    CHECK_RES(apply1(T0 + 1, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_OUT, nid(), WA1, TREAS_A, 1)), code,
              LEDGER_FIELD_DEBIT);
    /* status comes after funds-independent checks but before funds: too much is still a
     * status failure */
    CHECK_RES(apply1(T0 + 1, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, 999999)), code,
              LEDGER_FIELD_DEBIT);
    CHECK_UNCHANGED(WA1, b1, T0 + 1);
    CHECK_UNCHANGED(WA2, b2, T0 + 1);
    /* back to active: it works again */
    REQUIRE_EQ_INT(run(T0 + 2, cmd_update(ACT_A, WA1, 0, LEDGER_STATUS_ACTIVE)), JZ_OK);
    CHECK_EQ_INT(run(T0 + 2, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, 1)), JZ_OK);
    CHECK_EQ_INT(bal(WA2), 1001);
    CHECK_CONSERVED();
}

TEST(ledger_status_frozen_both_sides)
{
    status_both_sides(LEDGER_STATUS_FROZEN, JZ_WALLET_FROZEN);
}

TEST(ledger_status_lost_both_sides)
{
    status_both_sides(LEDGER_STATUS_LOST, JZ_WALLET_LOST);
}

TEST(ledger_status_debit_checked_before_credit)
{
    REQUIRE(status_world());
    REQUIRE_EQ_INT(run(T0, cmd_update(ACT_A, WA1, 0, LEDGER_STATUS_LOST)), JZ_OK);
    REQUIRE_EQ_INT(run(T0, cmd_update(ACT_A, WA2, 0, LEDGER_STATUS_FROZEN)), JZ_OK);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, 1)), JZ_WALLET_LOST,
              LEDGER_FIELD_DEBIT);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA2, WA1, 1)), JZ_WALLET_FROZEN,
              LEDGER_FIELD_DEBIT);
    /* authority comes before status: opb debiting a frozen opa wallet is forbidden */
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_B, LEDGER_KIND_P2P, nid(), WA2, TREAS_B, 1)), JZ_FORBIDDEN);
    CHECK_EQ_INT(bal(WA1), 1000);
    CHECK_EQ_INT(bal(WA2), 1000);
    CHECK_CONSERVED();
}

TEST(ledger_close_rules_and_closed_wallet)
{
    REQUIRE(status_world());
    /* not empty */
    CHECK_EQ_INT(run(T0, cmd_close(ACT_A, WA1)), JZ_BALANCE_NOT_ZERO);
    CHECK_EQ_INT(wv_at(WA1, T0).status, LEDGER_STATUS_ACTIVE);
    /* only held money left: still not closable */
    jz_id h = nid();
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h, WA1, WA2, 400, 60000)), JZ_OK);
    REQUIRE_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_OUT, nid(), WA1, TREAS_A, 600)),
                   JZ_OK);
    CHECK_EQ_INT(bal(WA1), 400);
    CHECK_EQ_INT(held(WA1), 400);
    CHECK_EQ_INT(run(T0, cmd_close(ACT_A, WA1)), JZ_BALANCE_NOT_ZERO);
    /* other operator, treasury, unknown */
    CHECK_EQ_INT(run(T0, cmd_close(ACT_B, WA1)), JZ_FORBIDDEN);
    CHECK_EQ_INT(run(T0, cmd_close(ACT_A, TREAS_A)), JZ_FORBIDDEN);
    CHECK_EQ_INT(run(T0, cmd_close(ACT_CENTRAL, ISSUANCE)), JZ_FORBIDDEN);
    CHECK_RES(apply1(T0, cmd_close(ACT_A, idn(0x5555))), JZ_WALLET_NOT_FOUND, LEDGER_FIELD_ID);
    /* capture empties it */
    REQUIRE_EQ_INT(run(T0 + 1, cmd_capture(ACT_A, h, 0)), JZ_OK);
    CHECK_EQ_INT(run(T0 + 1, cmd_close(ACT_A, WA1)), JZ_OK);
    struct ledger_wallet_view v = wv_at(WA1, T0 + 1);
    CHECK_EQ_INT(v.status, LEDGER_STATUS_CLOSED);
    CHECK_EQ_INT(v.balance, 0);
    /* closed: no second close, no update, no money either way */
    CHECK_EQ_INT(run(T0 + 1, cmd_close(ACT_A, WA1)), JZ_WALLET_CLOSED);
    CHECK_EQ_INT(run(T0 + 1, cmd_update(ACT_A, WA1, 0, LEDGER_STATUS_ACTIVE)), JZ_WALLET_CLOSED);
    CHECK_EQ_INT(run(T0 + 1, cmd_update(ACT_A, WA1, 2, 0)), JZ_WALLET_CLOSED);
    CHECK_RES(apply1(T0 + 1, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA2, WA1, 1)), JZ_WALLET_CLOSED,
              LEDGER_FIELD_CREDIT);
    CHECK_RES(apply1(T0 + 1, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, WA1, 1)),
              JZ_WALLET_CLOSED, LEDGER_FIELD_CREDIT);
    CHECK_RES(apply1(T0 + 1, cmd_hold(ACT_A, nid(), WA2, WA1, 1, 100)), JZ_WALLET_CLOSED,
              LEDGER_FIELD_CREDIT);
    CHECK_RES(apply1(T0 + 1, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, 1)), JZ_WALLET_CLOSED,
              LEDGER_FIELD_DEBIT);
    v = wv_at(WA1, T0 + 1);
    CHECK_EQ_INT(v.status, LEDGER_STATUS_CLOSED);
    CHECK_EQ_INT(v.balance, 0);
    CHECK_EQ_INT(v.tier, 1);
    CHECK_EQ_INT(bal(WA2), 1400);
    CHECK_CONSERVED();
}

TEST(ledger_wallet_update_rules)
{
    REQUIRE(status_world());
    REQUIRE(open_funded(T0, ACT_B, WB1, LEDGER_WALLET_PERSONAL, 2, 0));
    CHECK_RES(apply1(T0, cmd_update(ACT_A, WA1, 5, 0)), JZ_INVALID_FIELD, LEDGER_FIELD_TIER);
    CHECK_RES(apply1(T0, cmd_update(ACT_A, WA1, 0, LEDGER_STATUS_CLOSED)), JZ_INVALID_FIELD,
              LEDGER_FIELD_STATUS);
    CHECK_RES(apply1(T0, cmd_update(ACT_A, WA1, 0, 9)), JZ_INVALID_FIELD, LEDGER_FIELD_STATUS);
    CHECK_RES(apply1(T0, cmd_update(ACT_A, WA1, 0, 0)), JZ_INVALID_FIELD, LEDGER_FIELD_STATUS);
    CHECK_RES(apply1(T0, cmd_update(ACT_A, idn(0x5555), 2, 0)), JZ_WALLET_NOT_FOUND,
              LEDGER_FIELD_ID);
    CHECK_EQ_INT(run(T0, cmd_update(ACT_A, WB1, 3, 0)), JZ_FORBIDDEN);
    CHECK_EQ_INT(run(T0, cmd_update(ACT_CENTRAL, WA1, 3, 0)), JZ_FORBIDDEN);
    CHECK_EQ_INT(run(T0, cmd_update(ACT_A, TREAS_A, 0, LEDGER_STATUS_FROZEN)), JZ_FORBIDDEN);
    CHECK_EQ_INT(run(T0, cmd_update(ACT_CENTRAL, ISSUANCE, 0, LEDGER_STATUS_FROZEN)), JZ_FORBIDDEN);
    struct ledger_wallet_view v = wv_at(WA1, T0);
    CHECK_EQ_INT(v.tier, 1);
    CHECK_EQ_INT(v.status, LEDGER_STATUS_ACTIVE);
    CHECK_EQ_INT(wv_at(WB1, T0).tier, 2);
    CHECK_EQ_INT(wv_at(TREAS_A, T0).status, LEDGER_STATUS_ACTIVE);
    /* tier and status together */
    CHECK_EQ_INT(run(T0, cmd_update(ACT_A, WA1, 4, LEDGER_STATUS_FROZEN)), JZ_OK);
    v = wv_at(WA1, T0);
    CHECK_EQ_INT(v.tier, 4);
    CHECK_EQ_INT(v.status, LEDGER_STATUS_FROZEN);
    /* tier 0 leaves the tier */
    CHECK_EQ_INT(run(T0, cmd_update(ACT_A, WA1, 0, LEDGER_STATUS_ACTIVE)), JZ_OK);
    v = wv_at(WA1, T0);
    CHECK_EQ_INT(v.tier, 4);
    CHECK_EQ_INT(v.status, LEDGER_STATUS_ACTIVE);
    CHECK_CONSERVED();
}

TEST(ledger_lowering_tier_moves_no_money_and_limits_follow)
{
    REQUIRE(status_world());
    const struct ledger_tier_limits *t4 = tier(4);
    REQUIRE_EQ_INT(
        run(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, WA1, t4->balance_cap * 2)),
        JZ_OK);
    int64_t b = bal(WA1);
    REQUIRE_EQ_INT(run(T0, cmd_update(ACT_A, WA1, 4, 0)), JZ_OK);
    CHECK_EQ_INT(bal(WA1), b); /* over the new cap, but nothing moves */
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA2, WA1, 1)),
                 JZ_BALANCE_CAP_EXCEEDED);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, t4->per_payment + 1)),
                 JZ_PER_PAYMENT_LIMIT);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, t4->per_payment)), JZ_OK);
    CHECK_EQ_INT(bal(WA1), b - t4->per_payment);
    CHECK_EQ_INT(bal(WA2), 1000 + t4->per_payment);
    CHECK_CONSERVED();
}

/* ---- Authority and shapes ---- */

/* WA1, WA2 (opa, tier 1, 1000 each), WB1 (opb, tier 1, 1000). */
static bool auth_world(void)
{
    return status_world() && open_funded(T0, ACT_B, WB1, LEDGER_WALLET_PERSONAL, 1, 1000);
}

TEST(ledger_auth_operator_debits_only_its_own)
{
    REQUIRE(auth_world());
    struct ledger_wallet_view bb = wv_at(WB1, T0);
    struct ledger_wallet_view ba = wv_at(WA1, T0);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WB1, WA1, 10)), JZ_FORBIDDEN);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, nid(), WB1, WA1, 10)), JZ_FORBIDDEN);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_ADJUSTMENT, nid(), TREAS_B, WA1, 10)),
                 JZ_FORBIDDEN);
    CHECK_EQ_INT(run(T0, cmd_hold(ACT_A, nid(), WB1, WA1, 10, 1000)), JZ_FORBIDDEN);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_B, WB1, 10)),
                 JZ_FORBIDDEN);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_OUT, nid(), WB1, TREAS_B, 10)),
                 JZ_FORBIDDEN);
    CHECK_UNCHANGED(WB1, bb, T0);
    CHECK_UNCHANGED(WA1, ba, T0);
    CHECK_EQ_INT(bal(TREAS_B), QUOTA - 1000);
    /* crediting another operator's wallet is fine */
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WB1, 10)), JZ_OK);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, nid(), WA1, TREAS_B, 5)), JZ_OK);
    CHECK_EQ_INT(bal(WB1), 1010);
    CHECK_EQ_INT(bal(WA1), 985);
    CHECK_EQ_INT(bal(TREAS_B), QUOTA - 1000 + 5);
    CHECK_CONSERVED();
}

TEST(ledger_auth_central_transfers)
{
    REQUIRE(auth_world());
    int64_t bi = bal(ISSUANCE);
    /* central p2p: from the issuance account it is the wrong shape; from an operator's
     * wallet it is not central's to debit */
    CHECK_RES(apply1(T0, cmd_tx(ACT_CENTRAL, LEDGER_KIND_P2P, nid(), ISSUANCE, WA1, 10)),
              JZ_KIND_NOT_ALLOWED, LEDGER_FIELD_KIND);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_CENTRAL, LEDGER_KIND_P2P, nid(), WA1, WA2, 10)), JZ_FORBIDDEN);
    CHECK_RES(apply1(T0, cmd_hold(ACT_CENTRAL, nid(), ISSUANCE, WA1, 10, 1000)),
              JZ_KIND_NOT_ALLOWED, LEDGER_FIELD_KIND);
    /* operators cannot move money to or from the issuance account with ordinary kinds */
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, ISSUANCE, 10)),
              JZ_KIND_NOT_ALLOWED, LEDGER_FIELD_KIND);
    CHECK_RES(apply1(T0, cmd_hold(ACT_A, nid(), WA1, ISSUANCE, 10, 1000)), JZ_KIND_NOT_ALLOWED,
              LEDGER_FIELD_KIND);
    CHECK_EQ_INT(bal(ISSUANCE), bi);
    CHECK_EQ_INT(bal(WA1), 1000);
    CHECK_EQ_INT(bal(WA2), 1000);
    CHECK_EQ_INT(held(WA1), 0);
    CHECK_CONSERVED();
}

TEST(ledger_auth_issue_and_redeem)
{
    REQUIRE(auth_world());
    int64_t bi = bal(ISSUANCE);
    /* issue: only central, only issuance -> operator treasury */
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_ISSUE, nid(), ISSUANCE, TREAS_A, 10)),
                 JZ_FORBIDDEN);
    CHECK_RES(apply1(T0, cmd_tx(ACT_CENTRAL, LEDGER_KIND_ISSUE, nid(), ISSUANCE, WA1, 10)),
              JZ_KIND_NOT_ALLOWED, LEDGER_FIELD_KIND);
    CHECK_RES(apply1(T0, cmd_tx(ACT_CENTRAL, LEDGER_KIND_ISSUE, nid(), TREAS_A, TREAS_B, 10)),
              JZ_KIND_NOT_ALLOWED, LEDGER_FIELD_KIND);
    /* redeem: only central, only operator treasury -> issuance */
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_REDEEM, nid(), TREAS_A, ISSUANCE, 10)),
                 JZ_FORBIDDEN);
    CHECK_RES(apply1(T0, cmd_tx(ACT_CENTRAL, LEDGER_KIND_REDEEM, nid(), WA1, ISSUANCE, 10)),
              JZ_KIND_NOT_ALLOWED, LEDGER_FIELD_KIND);
    CHECK_RES(apply1(T0, cmd_tx(ACT_CENTRAL, LEDGER_KIND_REDEEM, nid(), TREAS_A, TREAS_B, 10)),
              JZ_KIND_NOT_ALLOWED, LEDGER_FIELD_KIND);
    CHECK_EQ_INT(bal(ISSUANCE), bi);
    CHECK_EQ_INT(bal(TREAS_A), QUOTA - 2000);
    CHECK_EQ_INT(bal(TREAS_B), QUOTA - 1000);
    /* the right shapes */
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_CENTRAL, LEDGER_KIND_ISSUE, nid(), ISSUANCE, TREAS_A, 500)),
                 JZ_OK);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_CENTRAL, LEDGER_KIND_REDEEM, nid(), TREAS_B, ISSUANCE, 300)),
                 JZ_OK);
    CHECK_EQ_INT(bal(ISSUANCE), bi - 500 + 300);
    CHECK_EQ_INT(bal(TREAS_A), QUOTA - 2000 + 500);
    CHECK_EQ_INT(bal(TREAS_B), QUOTA - 1000 - 300);
    /* redeem is limited by the treasury's funds */
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_CENTRAL, LEDGER_KIND_REDEEM, nid(), TREAS_B, ISSUANCE, QUOTA)),
                 JZ_INSUFFICIENT_FUNDS);
    CHECK_EQ_INT(bal(TREAS_B), QUOTA - 1000 - 300);
    CHECK_CONSERVED();
}

TEST(ledger_auth_exchange_shapes)
{
    REQUIRE(auth_world());
    int64_t ta = bal(TREAS_A);
    int64_t tb = bal(TREAS_B);
    /* exchange_in: from the credit's own operator treasury, into a non-treasury */
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, WB1, 10)),
              JZ_KIND_NOT_ALLOWED, LEDGER_FIELD_KIND);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, TREAS_B, 10)),
              JZ_KIND_NOT_ALLOWED, LEDGER_FIELD_KIND);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), WA2, WA1, 10)),
              JZ_KIND_NOT_ALLOWED, LEDGER_FIELD_KIND);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_B, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, WA1, 10)),
                 JZ_FORBIDDEN);
    /* exchange_out: from a non-treasury into its own operator's treasury */
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_OUT, nid(), WA1, TREAS_B, 10)),
              JZ_KIND_NOT_ALLOWED, LEDGER_FIELD_KIND);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_OUT, nid(), WA1, WA2, 10)),
              JZ_KIND_NOT_ALLOWED, LEDGER_FIELD_KIND);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_OUT, nid(), TREAS_A, WA1, 10)),
              JZ_KIND_NOT_ALLOWED, LEDGER_FIELD_KIND);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_B, LEDGER_KIND_EXCHANGE_OUT, nid(), WA1, TREAS_A, 10)),
                 JZ_FORBIDDEN);
    CHECK_EQ_INT(bal(TREAS_A), ta);
    CHECK_EQ_INT(bal(TREAS_B), tb);
    CHECK_EQ_INT(bal(WA1), 1000);
    CHECK_EQ_INT(bal(WA2), 1000);
    CHECK_EQ_INT(bal(WB1), 1000);
    /* the right shapes */
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, WA1, 70)), JZ_OK);
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_B, LEDGER_KIND_EXCHANGE_OUT, nid(), WB1, TREAS_B, 30)), JZ_OK);
    CHECK_EQ_INT(bal(WA1), 1070);
    CHECK_EQ_INT(bal(TREAS_A), ta - 70);
    CHECK_EQ_INT(bal(WB1), 970);
    CHECK_EQ_INT(bal(TREAS_B), tb + 30);
    CHECK_CONSERVED();
}

/* ---- Wallet open ---- */

TEST(ledger_wallet_open_replay_and_conflicts)
{
    SETUP();
    struct ledger_cmd base = cmd_open(ACT_A, WA1, LEDGER_WALLET_MERCHANT, 3);
    base.mcc = 5812;
    struct ledger_result r = apply1(T0 + 1, base);
    CHECK_EQ_INT(r.code, JZ_OK);
    CHECK_EQ_INT(r.replayed, 0);
    struct ledger_wallet_view v = wv_at(WA1, T0 + 1);
    CHECK_EQ_INT(v.kind, LEDGER_WALLET_MERCHANT);
    CHECK_EQ_INT(v.tier, 3);
    CHECK_EQ_INT(v.form, LEDGER_FORM_SOFT);
    CHECK_EQ_INT(v.mcc, 5812);
    CHECK_EQ_INT(v.status, LEDGER_STATUS_ACTIVE);
    CHECK_EQ_INT(v.balance, 0);
    CHECK_EQ_INT(v.operator_index, ACT_A);
    CHECK_EQ_INT(v.created_at, T0 + 1);
    uint32_t count = ledger_wallet_count(L);
    r = apply1(T0 + 2, base);
    CHECK_EQ_INT(r.code, JZ_OK);
    CHECK_EQ_INT(r.replayed, 1);
    CHECK_EQ_INT(ledger_wallet_count(L), count);
    struct ledger_cmd c = base;
    c.tier = 2;
    CHECK_RES(apply1(T0 + 2, c), JZ_ID_CONFLICT, LEDGER_FIELD_TIER);
    c = base;
    c.kind = LEDGER_WALLET_PERSONAL;
    CHECK_RES(apply1(T0 + 2, c), JZ_ID_CONFLICT, LEDGER_FIELD_KIND);
    c = base;
    c.form = LEDGER_FORM_HARD;
    CHECK_RES(apply1(T0 + 2, c), JZ_ID_CONFLICT, LEDGER_FIELD_FORM);
    c = base;
    c.mcc = 5411;
    CHECK_RES(apply1(T0 + 2, c), JZ_ID_CONFLICT, LEDGER_FIELD_MCC);
    c = base;
    c.credit = TREAS_A; /* a parent */
    CHECK_RES(apply1(T0 + 2, c), JZ_ID_CONFLICT, LEDGER_FIELD_PARENT);
    c = base;
    c.actor = ACT_B;
    c.tier = 1;
    CHECK_RES(apply1(T0 + 2, c), JZ_ID_CONFLICT, LEDGER_FIELD_OPERATOR);
    /* first differing in contract order */
    c = base;
    c.tier = 4;
    c.mcc = 1;
    CHECK_RES(apply1(T0 + 2, c), JZ_ID_CONFLICT, LEDGER_FIELD_TIER);
    /* a treasury's id */
    c = cmd_open(ACT_A, TREAS_A, LEDGER_WALLET_PERSONAL, 1);
    CHECK_EQ_INT(run(T0 + 2, c), JZ_ID_CONFLICT);
    v = wv_at(WA1, T0 + 2);
    CHECK_EQ_INT(v.tier, 3);
    CHECK_EQ_INT(v.mcc, 5812);
    CHECK_EQ_INT(v.kind, LEDGER_WALLET_MERCHANT);
    CHECK_EQ_INT(wv_at(TREAS_A, T0 + 2).kind, LEDGER_WALLET_TREASURY);
    CHECK_EQ_INT(ledger_wallet_count(L), count);
    CHECK_CONSERVED();
}

TEST(ledger_wallet_open_field_checks)
{
    SETUP();
    uint32_t count = ledger_wallet_count(L);
    jz_id zero;
    memset(&zero, 0, sizeof zero);
    CHECK_EQ_INT(run(T0, cmd_open(ACT_CENTRAL, WA1, LEDGER_WALLET_PERSONAL, 2)), JZ_FORBIDDEN);
    CHECK_RES(apply1(T0, cmd_open(ACT_A, zero, LEDGER_WALLET_PERSONAL, 2)), JZ_INVALID_FIELD,
              LEDGER_FIELD_ID);
    CHECK_RES(apply1(T0, cmd_open(ACT_A, WA1, LEDGER_WALLET_TREASURY, 2)), JZ_INVALID_FIELD,
              LEDGER_FIELD_KIND);
    CHECK_RES(apply1(T0, cmd_open(ACT_A, WA1, 0, 2)), JZ_INVALID_FIELD, LEDGER_FIELD_KIND);
    CHECK_RES(apply1(T0, cmd_open(ACT_A, WA1, 5, 2)), JZ_INVALID_FIELD, LEDGER_FIELD_KIND);
    CHECK_RES(apply1(T0, cmd_open(ACT_A, WA1, LEDGER_WALLET_PERSONAL, 0)), JZ_INVALID_FIELD,
              LEDGER_FIELD_TIER);
    CHECK_RES(apply1(T0, cmd_open(ACT_A, WA1, LEDGER_WALLET_PERSONAL, 5)), JZ_INVALID_FIELD,
              LEDGER_FIELD_TIER);
    struct ledger_cmd c = cmd_open(ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2);
    c.form = 0;
    CHECK_RES(apply1(T0, c), JZ_INVALID_FIELD, LEDGER_FIELD_FORM);
    c.form = 3;
    CHECK_RES(apply1(T0, c), JZ_INVALID_FIELD, LEDGER_FIELD_FORM);
    /* kind is checked before tier and form */
    c = cmd_open(ACT_A, WA1, 9, 9);
    c.form = 9;
    CHECK_RES(apply1(T0, c), JZ_INVALID_FIELD, LEDGER_FIELD_KIND);
    CHECK_EQ_INT(ledger_wallet_count(L), count);
    CHECK_EQ_INT(wv_at(WA1, T0).status, 0xFF);
    /* a refused open is not remembered: the id is still free */
    c = cmd_open(ACT_A, WA1, LEDGER_WALLET_CORPORATE, 2);
    c.form = LEDGER_FORM_HARD;
    CHECK_EQ_INT(run(T0, c), JZ_OK);
    CHECK_EQ_INT(wv_at(WA1, T0).form, LEDGER_FORM_HARD);
    CHECK_EQ_INT(wv_at(WA1, T0).kind, LEDGER_WALLET_CORPORATE);
    CHECK_EQ_INT(ledger_wallet_count(L), count + 1);
    CHECK_CONSERVED();
}

TEST(ledger_wallet_open_parent_rules)
{
    SETUP();
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_CORPORATE, 2, 0));
    REQUIRE(open_funded(T0, ACT_B, WB1, LEDGER_WALLET_CORPORATE, 2, 0));
    uint32_t count = ledger_wallet_count(L);
    struct ledger_cmd c = cmd_open(ACT_A, WA2, LEDGER_WALLET_PERSONAL, 3);
    c.credit = idn(0x5555);
    CHECK_RES(apply1(T0, c), JZ_WALLET_NOT_FOUND, LEDGER_FIELD_PARENT);
    c.credit = WB1;
    CHECK_EQ_INT(run(T0, c), JZ_FORBIDDEN);
    CHECK_EQ_INT(ledger_wallet_count(L), count);
    c.credit = WA1;
    CHECK_EQ_INT(run(T0, c), JZ_OK);
    struct ledger_wallet_view v = wv_at(WA2, T0);
    CHECK(ideq(v.parent, WA1));
    /* a child cannot be a parent */
    struct ledger_cmd g = cmd_open(ACT_A, WA3, LEDGER_WALLET_PERSONAL, 3);
    g.credit = WA2;
    CHECK_RES(apply1(T0, g), JZ_INVALID_FIELD, LEDGER_FIELD_PARENT);
    /* a parent must be active */
    REQUIRE_EQ_INT(run(T0, cmd_update(ACT_A, WA1, 0, LEDGER_STATUS_FROZEN)), JZ_OK);
    g.credit = WA1;
    CHECK_RES(apply1(T0, g), JZ_INVALID_FIELD, LEDGER_FIELD_PARENT);
    REQUIRE_EQ_INT(run(T0, cmd_close(ACT_A, WA1)), JZ_OK);
    CHECK_RES(apply1(T0, g), JZ_INVALID_FIELD, LEDGER_FIELD_PARENT);
    CHECK_EQ_INT(ledger_wallet_count(L), count + 1);
    CHECK_EQ_INT(wv_at(WA3, T0).status, 0xFF);
    /* no parent reads as zero */
    jz_id zero;
    memset(&zero, 0, sizeof zero);
    CHECK(ideq(wv_at(WB1, T0).parent, zero));
    CHECK_CONSERVED();
}

TEST(ledger_wallet_capacity_not_remembered)
{
    struct ledger_config cfg;
    ledger_config_default(&cfg, 5, 10000);
    REQUIRE(fixture_cfg(&cfg, T0));
    CHECK_EQ_INT(run(T0, cmd_open(ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2)), JZ_OK);
    CHECK_EQ_INT(run(T0, cmd_open(ACT_B, WB1, LEDGER_WALLET_PERSONAL, 2)), JZ_OK);
    CHECK_EQ_INT(ledger_wallet_count(L), 5);
    struct ledger_cmd c = cmd_open(ACT_A, WA2, LEDGER_WALLET_PERSONAL, 2);
    CHECK_RES(apply1(T0 + 1, c), JZ_CAPACITY_EXCEEDED, LEDGER_FIELD_NONE);
    CHECK_EQ_INT(ledger_wallet_count(L), 5);
    CHECK_EQ_INT(wv_at(WA2, T0 + 1).status, 0xFF);
    /* retried: still capacity, not a replay nor a conflict */
    struct ledger_result r = apply1(T0 + 2, c);
    CHECK_EQ_INT(r.code, JZ_CAPACITY_EXCEEDED);
    CHECK_EQ_INT(r.replayed, 0);
    c.tier = 3;
    CHECK_EQ_INT(run(T0 + 2, c), JZ_CAPACITY_EXCEEDED);
    /* a replay of an existing wallet is still fine when full */
    r = apply1(T0 + 2, cmd_open(ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2));
    CHECK_EQ_INT(r.code, JZ_OK);
    CHECK_EQ_INT(r.replayed, 1);
    /* an institution needs a treasury wallet too */
    CHECK_EQ_INT(run(T0 + 2, cmd_inst("opc", "Operator C", idn(4))), JZ_CAPACITY_EXCEEDED);
    CHECK_EQ_INT(ledger_institution_count(L), 3);
    CHECK_EQ_INT(ledger_wallet_count(L), 5);
    CHECK_CONSERVED();
}

TEST(ledger_transfer_capacity_not_remembered)
{
    struct ledger_config cfg;
    ledger_config_default(&cfg, 100, 4);
    REQUIRE(fixture_cfg(&cfg, T0));                                        /* two issue ids */
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 1, 1000)); /* a third */
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 1, 0));
    CHECK_EQ_INT(ledger_transfer_count(L), 3);
    CHECK_EQ_INT(pay(T0, ACT_A, WA1, WA2, 10), JZ_OK);
    CHECK_EQ_INT(ledger_transfer_count(L), 4);
    jz_id t = nid();
    struct ledger_cmd c = cmd_tx(ACT_A, LEDGER_KIND_P2P, t, WA1, WA2, 20);
    CHECK_EQ_INT(run(T0, c), JZ_CAPACITY_EXCEEDED);
    struct ledger_result rr;
    CHECK_EQ_INT(ledger_transfer_result(L, &t, &rr), -1);
    CHECK_EQ_INT(ledger_transfer_count(L), 4);
    CHECK_EQ_INT(bal(WA1), 990);
    CHECK_EQ_INT(bal(WA2), 10);
    struct ledger_result r = apply1(T0 + 1, c);
    CHECK_EQ_INT(r.code, JZ_CAPACITY_EXCEEDED);
    CHECK_EQ_INT(r.replayed, 0);
    CHECK_EQ_INT(run(T0 + 1, cmd_hold(ACT_A, nid(), WA1, WA2, 5, 1000)), JZ_CAPACITY_EXCEEDED);
    CHECK_EQ_INT(held(WA1), 0);
    CHECK_CONSERVED();
}

/* ---- Institutions ---- */

TEST(ledger_institution_create_rules)
{
    SETUP();
    CHECK_EQ_INT(run(T0, cmd_zero(LEDGER_OP_GENESIS, 0)), JZ_FORBIDDEN);
    struct ledger_cmd g = cmd_zero(LEDGER_OP_GENESIS, 0);
    snprintf(g.inst.s, sizeof g.inst.s, "central");
    g.debit = ISSUANCE;
    CHECK_EQ_INT(run(T0, g), JZ_FORBIDDEN);
    /* replay of the same operator */
    struct ledger_result r = apply1(T0 + 1, cmd_inst("opa", "Operator A", TREAS_A));
    CHECK_EQ_INT(r.code, JZ_OK);
    CHECK_EQ_INT(r.replayed, 1);
    CHECK_RES(apply1(T0 + 1, cmd_inst("opa", "Operator A", idn(9))), JZ_ID_CONFLICT,
              LEDGER_FIELD_TREASURY);
    CHECK_RES(apply1(T0 + 1, cmd_inst("opa", "Operator A2", TREAS_A)), JZ_ID_CONFLICT,
              LEDGER_FIELD_NAME);
    /* only central creates */
    struct ledger_cmd c = cmd_inst("opc", "Operator C", idn(4));
    c.actor = ACT_A;
    CHECK_EQ_INT(run(T0 + 1, c), JZ_FORBIDDEN);
    CHECK_RES(apply1(T0 + 1, cmd_inst("Opc", "Operator C", idn(4))), JZ_INVALID_FIELD,
              LEDGER_FIELD_ID);
    CHECK_RES(apply1(T0 + 1, cmd_inst("op-c", "Operator C", idn(4))), JZ_INVALID_FIELD,
              LEDGER_FIELD_ID);
    CHECK_RES(apply1(T0 + 1, cmd_inst("", "Operator C", idn(4))), JZ_INVALID_FIELD,
              LEDGER_FIELD_ID);
    c = cmd_inst("opc", "Operator C", idn(4));
    c.kind = LEDGER_INST_CENTRAL;
    CHECK_RES(apply1(T0 + 1, c), JZ_INVALID_FIELD, LEDGER_FIELD_KIND);
    c = cmd_inst("opc", "", idn(4));
    CHECK_RES(apply1(T0 + 1, c), JZ_INVALID_FIELD, LEDGER_FIELD_NAME);
    c = cmd_inst("opc", "Operator C", idn(4));
    c.name_len = JZ_NAME_MAX + 1;
    CHECK_RES(apply1(T0 + 1, c), JZ_INVALID_FIELD, LEDGER_FIELD_NAME);
    jz_id zero;
    memset(&zero, 0, sizeof zero);
    CHECK_RES(apply1(T0 + 1, cmd_inst("opc", "Operator C", zero)), JZ_INVALID_FIELD,
              LEDGER_FIELD_TREASURY);
    REQUIRE(open_funded(T0 + 1, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2, 0));
    CHECK_RES(apply1(T0 + 1, cmd_inst("opc", "Operator C", WA1)), JZ_ID_CONFLICT,
              LEDGER_FIELD_TREASURY);
    CHECK_EQ_INT(ledger_institution_count(L), 3);
    CHECK_EQ_INT(ledger_institution_index(L, "opc"), -1);
    /* a good one: 16 characters of [a-z0-9_] */
    CHECK_EQ_INT(run(T0 + 2, cmd_inst("op_c_0123456789z", "Operator C", idn(4))), JZ_OK);
    CHECK_EQ_INT(ledger_institution_index(L, "op_c_0123456789z"), 3);
    struct ledger_wallet_view v = wv_at(idn(4), T0 + 2);
    CHECK_EQ_INT(v.kind, LEDGER_WALLET_TREASURY);
    CHECK_EQ_INT(v.tier, 1);
    CHECK_EQ_INT(v.form, LEDGER_FORM_SOFT);
    CHECK_EQ_INT(v.status, LEDGER_STATUS_ACTIVE);
    CHECK_EQ_INT(v.balance, 0);
    CHECK_EQ_INT(v.operator_index, 3);
    CHECK_EQ_INT(ledger_institution_count(L), 4);
    CHECK_EQ_INT(run(T0 + 2, cmd_tx(ACT_CENTRAL, LEDGER_KIND_ISSUE, nid(), ISSUANCE, idn(4), 77)),
                 JZ_OK);
    CHECK_EQ_INT(bal(idn(4)), 77);
    CHECK_CONSERVED();
}

TEST(ledger_genesis_only_on_empty)
{
    struct ledger_config cfg;
    ledger_config_default(&cfg, 100, 100);
    ledger_free(L);
    L = ledger_new(&cfg);
    REQUIRE(L != NULL);
    CHECK_EQ_INT(ledger_wallet_count(L), 0);
    struct ledger_cmd g = cmd_zero(LEDGER_OP_GENESIS, 7); /* actor ignored */
    snprintf(g.inst.s, sizeof g.inst.s, "central");
    g.debit = ISSUANCE;
    CHECK_EQ_INT(run(T0, g), JZ_OK);
    CHECK_EQ_INT(ledger_institution_count(L), 1);
    CHECK_EQ_INT(ledger_wallet_count(L), 1);
    CHECK_EQ_INT(ledger_institution_index(L, "central"), 0);
    struct ledger_wallet_view v = wv_at(ISSUANCE, T0);
    CHECK_EQ_INT(v.kind, LEDGER_WALLET_TREASURY);
    CHECK_EQ_INT(v.tier, 1);
    CHECK_EQ_INT(v.form, LEDGER_FORM_SOFT);
    CHECK_EQ_INT(v.status, LEDGER_STATUS_ACTIVE);
    struct ledger_institution_view iv;
    REQUIRE_EQ_INT(ledger_institution_get(L, "central", &iv), 0);
    CHECK_EQ_INT(iv.kind, LEDGER_INST_CENTRAL);
    CHECK(ideq(iv.treasury, ISSUANCE));
    CHECK_EQ_INT(ledger_institution_get(L, "nobody", &iv), -1);
    CHECK_EQ_INT(run(T0, g), JZ_FORBIDDEN);
    CHECK_EQ_INT(ledger_institution_count(L), 1);
    CHECK_CONSERVED();
}

/* ---- Overflow ---- */

/* Issues `total` more to opa's treasury in JZ_AMOUNT_MAX pieces, one batch. */
static bool issue_total(int64_t ts, jz_id to, int64_t total)
{
    static struct ledger_cmd cmds[2048];
    static struct ledger_result res[2048];
    uint32_t n = 0;
    while (total > 0) {
        int64_t a = total < JZ_AMOUNT_MAX ? total : JZ_AMOUNT_MAX;
        if (n == 2048) {
            return false;
        }
        cmds[n++] = cmd_tx(ACT_CENTRAL, LEDGER_KIND_ISSUE, nid(), ISSUANCE, to, a);
        total -= a;
    }
    ledger_apply_batch(L, ts, cmds, n, res);
    for (uint32_t i = 0; i < n; i++) {
        if (res[i].code != JZ_OK) {
            return false;
        }
    }
    return true;
}

TEST(ledger_overflow_issuance_and_treasury)
{
    SETUP();
    /* bring the issuance account to exactly INT64_MIN: total issued 2^63 */
    int64_t more = (INT64_MAX - 2 * QUOTA) + 1;
    REQUIRE(issue_total(T0 + 1, TREAS_A, more));
    CHECK_EQ_INT(bal(ISSUANCE), INT64_MIN);
    CHECK_EQ_INT(bal(TREAS_A), INT64_MAX - QUOTA + 1);
    CHECK_EQ_INT(bal(TREAS_B), QUOTA);
    CHECK_CONSERVED();
    /* one fen more would take the issuance account past INT64_MIN */
    jz_id t = nid();
    CHECK_EQ_INT(run(T0 + 2, cmd_tx(ACT_CENTRAL, LEDGER_KIND_ISSUE, t, ISSUANCE, TREAS_B, 1)),
                 JZ_OVERFLOW);
    CHECK_EQ_INT(remembered(t), JZ_OVERFLOW);
    CHECK_EQ_INT(run(T0 + 2, cmd_tx(ACT_CENTRAL, LEDGER_KIND_ISSUE, nid(), ISSUANCE, TREAS_A,
                                    JZ_AMOUNT_MAX)),
                 JZ_OVERFLOW);
    CHECK_EQ_INT(bal(ISSUANCE), INT64_MIN);
    CHECK_EQ_INT(bal(TREAS_B), QUOTA);
    /* opb moving its whole quota into opa's treasury would pass INT64_MAX */
    CHECK_EQ_INT(run(T0 + 2, cmd_tx(ACT_B, LEDGER_KIND_P2P, nid(), TREAS_B, TREAS_A, QUOTA)),
                 JZ_OVERFLOW);
    CHECK_EQ_INT(bal(TREAS_A), INT64_MAX - QUOTA + 1);
    CHECK_EQ_INT(bal(TREAS_B), QUOTA);
    /* one fen less lands exactly on INT64_MAX */
    CHECK_EQ_INT(run(T0 + 2, cmd_tx(ACT_B, LEDGER_KIND_P2P, nid(), TREAS_B, TREAS_A, QUOTA - 1)),
                 JZ_OK);
    CHECK_EQ_INT(bal(TREAS_A), INT64_MAX);
    CHECK_EQ_INT(bal(TREAS_B), 1);
    CHECK_EQ_INT(run(T0 + 2, cmd_tx(ACT_B, LEDGER_KIND_P2P, nid(), TREAS_B, TREAS_A, 1)),
                 JZ_OVERFLOW);
    /* redeeming makes room again */
    CHECK_EQ_INT(run(T0 + 3, cmd_tx(ACT_CENTRAL, LEDGER_KIND_REDEEM, nid(), TREAS_A, ISSUANCE, 5)),
                 JZ_OK);
    CHECK_EQ_INT(bal(ISSUANCE), INT64_MIN + 5);
    CHECK_EQ_INT(run(T0 + 3, cmd_tx(ACT_CENTRAL, LEDGER_KIND_ISSUE, nid(), ISSUANCE, TREAS_B, 5)),
                 JZ_OK);
    CHECK_EQ_INT(bal(ISSUANCE), INT64_MIN);
    CHECK_CONSERVED();
}

TEST(ledger_unlimited_counter_past_int64_is_daily_limit)
{
    SETUP();
    REQUIRE(issue_total(T0, TREAS_A, JZ_AMOUNT_MAX));
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 1, JZ_AMOUNT_MAX));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 1, 0));
    static struct ledger_cmd cmds[2048];
    static struct ledger_result res[2048];
    int64_t rounds = INT64_MAX / JZ_AMOUNT_MAX; /* 1024 */
    REQUIRE(rounds * 2 <= 2048);
    uint32_t n = 0;
    for (int64_t i = 0; i < rounds; i++) {
        cmds[n++] = cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, JZ_AMOUNT_MAX);
        cmds[n++] = cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA2, WA1, JZ_AMOUNT_MAX);
    }
    ledger_apply_batch(L, T0 + 1, cmds, n, res);
    int bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        bad += res[i].code != JZ_OK;
    }
    CHECK_EQ_INT(bad, 0);
    struct ledger_wallet_view v = wv_at(WA1, T0 + 1);
    CHECK_EQ_INT(v.day_out, rounds * JZ_AMOUNT_MAX);
    CHECK_EQ_INT(v.year_out, rounds * JZ_AMOUNT_MAX);
    CHECK_EQ_INT(v.balance, JZ_AMOUNT_MAX);
    CHECK_EQ_INT(pay(T0 + 1, ACT_A, WA1, WA2, JZ_AMOUNT_MAX), JZ_DAILY_LIMIT);
    struct ledger_wallet_view after = wv_at(WA1, T0 + 1);
    CHECK_EQ_INT(after.day_out, v.day_out);
    CHECK_EQ_INT(after.balance, JZ_AMOUNT_MAX);
    CHECK_EQ_INT(bal(WA2), 0);
    /* an amount that still fits is fine */
    int64_t room = INT64_MAX - v.day_out;
    CHECK_EQ_INT(pay(T0 + 1, ACT_A, WA1, WA2, room), JZ_OK);
    CHECK_EQ_INT(wv_at(WA1, T0 + 1).day_out, INT64_MAX);
    CHECK_EQ_INT(pay(T0 + 1, ACT_A, WA1, WA2, 1), JZ_DAILY_LIMIT);
    /* the next day the daily counter is free again, the annual one is not */
    int64_t next = T0 + DAY_MS;
    CHECK_EQ_INT(pay(next, ACT_A, WA1, WA2, 1), JZ_ANNUAL_LIMIT);
    CHECK_CONSERVED();
}

/* ---- Serialisation ---- */

struct buf {
    uint8_t *p;
    size_t len, cap, pos;
};

static int buf_emit(void *ctx, const void *data, size_t len)
{
    struct buf *b = ctx;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len) {
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL) {
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    if (len > 0) {
        memcpy(b->p + b->len, data, len);
    }
    b->len += len;
    return 0;
}

static int buf_read(void *ctx, void *data, size_t len)
{
    struct buf *b = ctx;
    if (b->pos + len > b->len) {
        return -1;
    }
    if (len > 0) {
        memcpy(data, b->p + b->pos, len);
    }
    b->pos += len;
    return 0;
}

static struct buf ser_a, ser_b;
static ledger *L2;

static void ser_reset(void)
{
    free(ser_a.p);
    free(ser_b.p);
    memset(&ser_a, 0, sizeof ser_a);
    memset(&ser_b, 0, sizeof ser_b);
    ledger_free(L2);
    L2 = NULL;
}

TEST(ledger_serialize_round_trip)
{
    ser_reset();
    SETUP();
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 4, 100000));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_MERCHANT, 2, 0));
    REQUIRE(open_funded(T0, ACT_B, WB1, LEDGER_WALLET_CORPORATE, 3, 500));
    jz_id h = nid();
    jz_id t = nid();
    jz_id tf = nid();
    REQUIRE_EQ_INT(run(T0 + 1, cmd_hold(ACT_A, h, WA1, WA2, 3000, 60000)), JZ_OK);
    struct ledger_cmd tc = cmd_tx(ACT_A, LEDGER_KIND_P2P, t, WA1, WB1, 700);
    set_str(tc.ref, &tc.ref_len, "ref-7");
    REQUIRE_EQ_INT(run(T0 + 2, tc), JZ_OK);
    struct ledger_cmd fc = cmd_tx(ACT_B, LEDGER_KIND_PAYMENT, tf, WB1, WA2, 5000);
    REQUIRE_EQ_INT(run(T0 + 3, fc), JZ_INSUFFICIENT_FUNDS);
    REQUIRE_EQ_INT(run(T0 + 3, cmd_update(ACT_B, WB1, 0, LEDGER_STATUS_FROZEN)), JZ_OK);

    REQUIRE_EQ_INT(ledger_serialize(L, buf_emit, &ser_a), 0);
    REQUIRE(ser_a.len > 0);
    L2 = ledger_new(ledger_get_config(L));
    REQUIRE(L2 != NULL);
    REQUIRE_EQ_INT(ledger_deserialize(L2, buf_read, &ser_a), 0);
    CHECK_EQ_INT(ser_a.pos, ser_a.len);
    REQUIRE_EQ_INT(ledger_serialize(L2, buf_emit, &ser_b), 0);
    REQUIRE_EQ_INT(ser_b.len, ser_a.len);
    CHECK_EQ_MEM(ser_a.p, ser_b.p, ser_a.len);
    CHECK_EQ_INT(ledger_wallet_count(L2), ledger_wallet_count(L));
    CHECK_EQ_INT(ledger_institution_count(L2), 3);
    CHECK_EQ_INT(ledger_transfer_count(L2), ledger_transfer_count(L));
    CHECK_EQ_INT(ledger_last_timestamp(L2), T0 + 3);
    CHECK_EQ_INT(ledger_institution_index(L2, "opb"), ACT_B);

    /* continue on the restored ledger (L2 keeps the original) */
    ledger *orig = L;
    ledger *restored = L2;
    L = restored;
    L2 = orig;
    CHECK_CONSERVED();
    struct ledger_wallet_view v = wv_at(WA1, T0 + 3);
    CHECK_EQ_INT(v.balance, 100000 - 700);
    CHECK_EQ_INT(v.held, 3000);
    CHECK_EQ_INT(v.day_out, 3700);
    CHECK_EQ_INT(wv_at(WB1, T0 + 3).status, LEDGER_STATUS_FROZEN);
    /* replays remember */
    struct ledger_result r = apply1(T0 + 10, tc);
    CHECK_EQ_INT(r.code, JZ_OK);
    CHECK_EQ_INT(r.replayed, 1);
    CHECK_EQ_INT(r.timestamp, T0 + 2);
    r = apply1(T0 + 10, fc);
    CHECK_EQ_INT(r.code, JZ_INSUFFICIENT_FUNDS);
    CHECK_EQ_INT(r.replayed, 1);
    struct ledger_cmd tc2 = tc;
    tc2.ref_len = 4;
    CHECK_RES(apply1(T0 + 10, tc2), JZ_ID_CONFLICT, LEDGER_FIELD_REF);
    /* the pending hold still expires at its deadline */
    tick(T0 + 1 + 60000 - 1);
    CHECK_EQ_INT(hv_of(h).status, LEDGER_HOLD_PENDING);
    tick(T0 + 1 + 60000);
    CHECK_EQ_INT(hv_of(h).status, LEDGER_HOLD_EXPIRED);
    v = wv_at(WA1, T0 + 1 + 60000);
    CHECK_EQ_INT(v.held, 0);
    CHECK_EQ_INT(v.day_out, 700);
    CHECK_EQ_INT(v.balance, 100000 - 700);
    CHECK_CONSERVED();

    /* the same batches on the original give the same bytes (L keeps the original now,
     * L2 the restored one, so both stay reachable) */
    L = orig;
    L2 = restored;
    apply1(T0 + 10, tc);
    apply1(T0 + 10, fc);
    apply1(T0 + 10, tc2);
    tick(T0 + 1 + 60000 - 1);
    tick(T0 + 1 + 60000);
    CHECK_EQ_INT(hv_of(h).status, LEDGER_HOLD_EXPIRED);
    CHECK_CONSERVED();
    free(ser_a.p);
    free(ser_b.p);
    memset(&ser_a, 0, sizeof ser_a);
    memset(&ser_b, 0, sizeof ser_b);
    REQUIRE_EQ_INT(ledger_serialize(L, buf_emit, &ser_a), 0);
    REQUIRE_EQ_INT(ledger_serialize(restored, buf_emit, &ser_b), 0);
    REQUIRE_EQ_INT(ser_a.len, ser_b.len);
    CHECK_EQ_MEM(ser_a.p, ser_b.p, ser_a.len);
    ser_reset();
}

static bool build_small(void)
{
    return fixture_at(T0) && open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2, 5000) &&
           run(T0, cmd_hold(ACT_A, nid(), WA1, TREAS_B, 100, 1000)) == JZ_OK &&
           run(T0 + 5, cmd_update(ACT_A, WA1, 3, 0)) == JZ_OK;
}

TEST(ledger_serialize_equal_state_equal_bytes_and_truncation)
{
    ser_reset();
    REQUIRE(build_small());
    REQUIRE_EQ_INT(ledger_serialize(L, buf_emit, &ser_a), 0);
    /* a second ledger built by the same commands (fixture_at restarts the ids) */
    L2 = L;
    L = NULL;
    REQUIRE(build_small());
    REQUIRE_EQ_INT(ledger_serialize(L, buf_emit, &ser_b), 0);
    REQUIRE_EQ_INT(ser_b.len, ser_a.len);
    CHECK_EQ_MEM(ser_a.p, ser_b.p, ser_a.len);
    /* truncated input is refused */
    struct buf cut = ser_a;
    cut.len = ser_a.len - 1;
    cut.pos = 0;
    ledger *t = ledger_new(ledger_get_config(L));
    CHECK(t != NULL);
    if (t != NULL) {
        CHECK_EQ_INT(ledger_deserialize(t, buf_read, &cut), -1);
        ledger_free(t);
    }
    /* empty input too */
    cut.len = 0;
    cut.pos = 0;
    t = ledger_new(ledger_get_config(L));
    CHECK(t != NULL);
    if (t != NULL) {
        CHECK_EQ_INT(ledger_deserialize(t, buf_read, &cut), -1);
        ledger_free(t);
    }
    CHECK_CONSERVED();
    ser_reset();
}

/* ---- Names ---- */

TEST(ledger_names_and_parsers)
{
    static const char *const kinds[] = {
        "",         "issue",        "redeem",    "exchange_in", "exchange_out", "p2p",
        "payment",  "bill",         "refund",    "card_load",   "card_unload",  "offline_settle",
        "campaign", "disbursement", "adjustment"};
    REQUIRE_EQ_INT(JZ_ARRAY_LEN(kinds), LEDGER_KIND_MAX + 1);
    for (int k = 1; k <= LEDGER_KIND_MAX; k++) {
        CHECK_EQ_STR(ledger_kind_name(k), kinds[k]);
        CHECK_EQ_INT(ledger_kind_parse(kinds[k]), k);
    }
    CHECK_EQ_STR(ledger_kind_name(0), "");
    CHECK_EQ_STR(ledger_kind_name(LEDGER_KIND_MAX + 1), "");
    CHECK_EQ_STR(ledger_kind_name(-1), "");
    CHECK_EQ_INT(ledger_kind_parse("P2P"), 0);
    CHECK_EQ_INT(ledger_kind_parse(""), 0);
    CHECK_EQ_INT(ledger_kind_parse("p2p "), 0);
    CHECK_EQ_INT(ledger_kind_parse("transfer"), 0);

    static const char *const wkinds[] = {"", "personal", "corporate", "merchant", "treasury"};
    for (int k = 1; k <= 4; k++) {
        CHECK_EQ_STR(ledger_wallet_kind_name(k), wkinds[k]);
        CHECK_EQ_INT(ledger_wallet_kind_parse(wkinds[k]), k);
    }
    CHECK_EQ_STR(ledger_wallet_kind_name(0), "");
    CHECK_EQ_STR(ledger_wallet_kind_name(5), "");
    CHECK_EQ_INT(ledger_wallet_kind_parse("Personal"), 0);
    CHECK_EQ_INT(ledger_wallet_kind_parse("p2p"), 0);

    static const char *const statuses[] = {"", "active", "frozen", "lost", "closed"};
    for (int k = 1; k <= 4; k++) {
        CHECK_EQ_STR(ledger_status_name(k), statuses[k]);
        CHECK_EQ_INT(ledger_status_parse(statuses[k]), k);
    }
    CHECK_EQ_STR(ledger_status_name(0), "");
    CHECK_EQ_STR(ledger_status_name(5), "");
    CHECK_EQ_INT(ledger_status_parse("open"), 0);
    CHECK_EQ_INT(ledger_status_parse(""), 0);

    CHECK_EQ_STR(ledger_form_name(LEDGER_FORM_SOFT), "soft");
    CHECK_EQ_STR(ledger_form_name(LEDGER_FORM_HARD), "hard");
    CHECK_EQ_INT(ledger_form_parse("soft"), LEDGER_FORM_SOFT);
    CHECK_EQ_INT(ledger_form_parse("hard"), LEDGER_FORM_HARD);
    CHECK_EQ_STR(ledger_form_name(0), "");
    CHECK_EQ_STR(ledger_form_name(3), "");
    CHECK_EQ_INT(ledger_form_parse("medium"), 0);
    CHECK_EQ_INT(ledger_form_parse("SOFT"), 0);

    CHECK_EQ_STR(ledger_hold_status_name(LEDGER_HOLD_PENDING), "pending");
    CHECK_EQ_STR(ledger_hold_status_name(LEDGER_HOLD_CAPTURED), "captured");
    CHECK_EQ_STR(ledger_hold_status_name(LEDGER_HOLD_VOIDED), "voided");
    CHECK_EQ_STR(ledger_hold_status_name(LEDGER_HOLD_EXPIRED), "expired");
    CHECK_EQ_STR(ledger_hold_status_name(0), "");
    CHECK_EQ_STR(ledger_hold_status_name(5), "");

    CHECK_EQ_STR(ledger_field_name(LEDGER_FIELD_DEBIT), "debit");
    CHECK_EQ_STR(ledger_field_name(LEDGER_FIELD_CREDIT), "credit");
    CHECK_EQ_STR(ledger_field_name(LEDGER_FIELD_AMOUNT), "amount");
    CHECK_EQ_STR(ledger_field_name(LEDGER_FIELD_LINKED), "linked");
    CHECK_EQ_STR(ledger_field_name(LEDGER_FIELD_TIMEOUT_MS), "timeout_ms");
    CHECK_EQ_STR(ledger_field_name(LEDGER_FIELD_COUNT), "");
    for (int f = 1; f < LEDGER_FIELD_COUNT; f++) {
        const char *n = ledger_field_name(f);
        CHECK(n != NULL && n[0] != '\0');
    }

    CHECK_EQ_STR(jz_result_name(JZ_LINKED_OPEN), "linked_chain_open");
    CHECK_EQ_STR(jz_result_name(JZ_PER_PAYMENT_LIMIT), "per_payment_limit_exceeded");
}

/* ---- Mixed batches ---- */

TEST(ledger_batch_results_in_order_with_timestamp)
{
    SETUP();
    struct ledger_cmd c[5];
    c[0] = cmd_open(ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2);
    c[1] = cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, WA1, 800);
    c[2] = cmd_open(ACT_B, WB1, LEDGER_WALLET_MERCHANT, 1);
    c[3] = cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, nid(), WA1, WB1, 900);
    c[4] = cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, nid(), WA1, WB1, 800);
    struct ledger_result r[5];
    ledger_apply_batch(L, T0 + 42, c, 5, r);
    CHECK_EQ_INT(r[0].code, JZ_OK);
    CHECK_EQ_INT(r[1].code, JZ_OK);
    CHECK_EQ_INT(r[2].code, JZ_OK);
    CHECK_EQ_INT(r[3].code, JZ_INSUFFICIENT_FUNDS);
    CHECK_EQ_INT(r[4].code, JZ_OK);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(r[i].timestamp, T0 + 42);
        CHECK_EQ_INT(r[i].replayed, 0);
    }
    CHECK_EQ_INT(bal(WA1), 0);
    CHECK_EQ_INT(bal(WB1), 800);
    CHECK_EQ_INT(wv_at(WA1, T0 + 42).day_out, 800);
    CHECK_EQ_INT(ledger_last_timestamp(L), T0 + 42);
    /* a repeated id within one batch replays the first */
    jz_id t = nid();
    c[0] = cmd_tx(ACT_B, LEDGER_KIND_REFUND, t, WB1, WA1, 50);
    c[1] = c[0];
    ledger_apply_batch(L, T0 + 43, c, 2, r);
    CHECK_EQ_INT(r[0].code, JZ_OK);
    CHECK_EQ_INT(r[1].code, JZ_OK);
    CHECK_EQ_INT(r[1].replayed, 1);
    CHECK_EQ_INT(bal(WA1), 50);
    CHECK_EQ_INT(bal(WB1), 750);
    CHECK_CONSERVED();
}

TEST(ledger_hold_void_next_day_releases_year_only)
{
    REQUIRE(hold_world());
    jz_id h = nid();
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h, WA1, WA2, 600, 2 * DAY_MS)), JZ_OK);
    REQUIRE_EQ_INT(pay(T0 + DAY_MS, ACT_A, WA1, WA2, 100), JZ_OK);
    CHECK_EQ_INT(run(T0 + DAY_MS, cmd_void(ACT_A, h)), JZ_OK);
    struct ledger_wallet_view v = wv_at(WA1, T0 + DAY_MS);
    CHECK_EQ_INT(v.held, 0);
    CHECK_EQ_INT(v.balance, 900);
    CHECK_EQ_INT(v.day_out, 100); /* today's payment only; the hold was yesterday's */
    CHECK_EQ_INT(v.year_out, 100);
    CHECK_CONSERVED();
}

TEST(ledger_hold_expiry_next_day_and_limits_freed)
{
    REQUIRE(hold_world());
    const struct ledger_tier_limits *t2 = tier(2);
    REQUIRE_EQ_INT(
        run(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, WA1, t2->per_day)), JZ_OK);
    /* holds that use up today's limit */
    jz_id h1 = nid(), h2 = nid();
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h1, WA1, WA2, t2->per_payment, 1000)), JZ_OK);
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h2, WA1, WA2, t2->per_day - t2->per_payment, 1000)),
                   JZ_OK);
    CHECK_EQ_INT(pay(T0, ACT_A, WA1, WA2, 1), JZ_DAILY_LIMIT);
    /* once they expire, the limit is free again the same day */
    CHECK_EQ_INT(pay(T0 + 1000, ACT_A, WA1, WA2, t2->per_payment), JZ_OK);
    CHECK_EQ_INT(hv_of(h1).status, LEDGER_HOLD_EXPIRED);
    CHECK_EQ_INT(hv_of(h2).status, LEDGER_HOLD_EXPIRED);
    struct ledger_wallet_view v = wv_at(WA1, T0 + 1000);
    CHECK_EQ_INT(v.held, 0);
    CHECK_EQ_INT(v.day_out, t2->per_payment);
    CHECK_EQ_INT(v.balance, 1000 + t2->per_day - t2->per_payment);
    CHECK_CONSERVED();
}

/* ---- Order of checks ---- */

TEST(ledger_check_order_limits_funds_cap)
{
    SETUP();
    const struct ledger_tier_limits *t4 = tier(4);
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 4, 10));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 4, t4->balance_cap));
    struct ledger_wallet_view b1 = wv_at(WA1, T0);
    struct ledger_wallet_view b2 = wv_at(WA2, T0);
    /* existence before authority */
    CHECK_RES(apply1(T0, cmd_tx(ACT_B, LEDGER_KIND_P2P, nid(), idn(0x4444), WA2, 1)),
              JZ_WALLET_NOT_FOUND, LEDGER_FIELD_DEBIT);
    /* limits before funds: 10 fen in the wallet, a payment over per_payment */
    CHECK_EQ_INT(pay(T0, ACT_A, WA1, WA2, t4->per_payment + 1), JZ_PER_PAYMENT_LIMIT);
    /* funds before cap: WA2 is full and WA1 has too little */
    CHECK_EQ_INT(pay(T0, ACT_A, WA1, WA2, 11), JZ_INSUFFICIENT_FUNDS);
    /* funds ok, cap refuses */
    CHECK_EQ_INT(pay(T0, ACT_A, WA1, WA2, 10), JZ_BALANCE_CAP_EXCEEDED);
    /* status before limits */
    REQUIRE_EQ_INT(run(T0, cmd_update(ACT_A, WA2, 0, LEDGER_STATUS_FROZEN)), JZ_OK);
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, t4->per_payment + 1)),
              JZ_WALLET_FROZEN, LEDGER_FIELD_CREDIT);
    /* fields before idempotency-free checks: amount before a missing wallet */
    CHECK_RES(apply1(T0, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, idn(0x4444), -1)),
              JZ_INVALID_FIELD, LEDGER_FIELD_AMOUNT);
    CHECK_UNCHANGED(WA1, b1, T0);
    b2.status = LEDGER_STATUS_FROZEN;
    CHECK_UNCHANGED(WA2, b2, T0);
    /* a treasury and the issuance account are never capped */
    CHECK_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_OUT, nid(), WA1, TREAS_A, 10)), JZ_OK);
    CHECK_EQ_INT(bal(WA1), 0);
    CHECK_CONSERVED();
}

TEST(ledger_hold_kind_field_ignored)
{
    REQUIRE(hold_world());
    /* "its kind field is ignored and taken as payment": a kind out of range is not an error */
    struct ledger_cmd c = cmd_hold(ACT_A, nid(), WA1, WA2, 100, 1000);
    c.kind = 0;
    CHECK_EQ_INT(run(T0, c), JZ_OK);
    c = cmd_hold(ACT_A, nid(), WA1, WA2, 100, 1000);
    c.kind = 200;
    CHECK_EQ_INT(run(T0, c), JZ_OK);
    c = cmd_hold(ACT_A, nid(), WA1, WA2, 100, 1000);
    c.kind = LEDGER_KIND_EXCHANGE_OUT; /* would be the wrong shape for a transfer */
    CHECK_EQ_INT(run(T0, c), JZ_OK);
    struct ledger_wallet_view v = wv_at(WA1, T0);
    CHECK_EQ_INT(v.held, 300);
    CHECK_EQ_INT(v.day_out, 300); /* counted as payments */
    CHECK_CONSERVED();
}

TEST(ledger_merchant_hold_not_limited)
{
    SETUP();
    const struct ledger_tier_limits *t4 = tier(4);
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_MERCHANT, 4, t4->balance_cap));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_MERCHANT, 1, 0));
    jz_id h = nid();
    CHECK_EQ_INT(run(T0, cmd_hold(ACT_A, h, WA1, WA2, t4->per_day + 1, 1000)), JZ_OK);
    CHECK_EQ_INT(held(WA1), t4->per_day + 1);
    CHECK_EQ_INT(run(T0, cmd_capture(ACT_A, h, 0)), JZ_OK);
    CHECK_EQ_INT(bal(WA2), t4->per_day + 1);
    CHECK_CONSERVED();
}

TEST(ledger_chain_undo_restores_counter_day)
{
    SETUP();
    const struct ledger_tier_limits *t4 = tier(4);
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 4, t4->balance_cap));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_MERCHANT, 1, 0));
    /* yesterday (for the counters): the whole daily limit */
    int64_t spent = 0;
    while (spent < t4->per_day) {
        int64_t a = t4->per_payment < t4->per_day - spent ? t4->per_payment : t4->per_day - spent;
        REQUIRE_EQ_INT(pay(T0, ACT_A, WA1, WA2, a), JZ_OK);
        spent += a;
    }
    REQUIRE_EQ_INT(wv_at(WA1, T0).day_out, t4->per_day);
    /* today: a chain whose first member touches the counters, second fails */
    int64_t today = T0 + DAY_MS;
    struct ledger_cmd c[2];
    struct ledger_result r[2];
    c[0] = cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, nid(), WA1, WA2, 100);
    c[0].flags = LEDGER_FLAG_LINKED;
    c[1] = cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, nid(), WA1, WA2, t4->balance_cap);
    ledger_apply_batch(L, today, c, 2, r);
    CHECK_EQ_INT(r[0].code, JZ_LINKED_FAILED);
    CHECK_EQ_INT(r[1].code, JZ_PER_PAYMENT_LIMIT);
    struct ledger_wallet_view v = wv_at(WA1, today);
    CHECK_EQ_INT(v.day_out, 0);
    CHECK_EQ_INT(v.year_out, t4->per_day);
    CHECK_EQ_INT(v.balance, t4->balance_cap - t4->per_day);
    /* today's whole daily limit is available */
    spent = 0;
    while (spent < t4->per_day) {
        int64_t a = t4->per_payment < t4->per_day - spent ? t4->per_payment : t4->per_day - spent;
        REQUIRE_EQ_INT(pay(today, ACT_A, WA1, WA2, a), JZ_OK);
        spent += a;
    }
    CHECK_EQ_INT(wv_at(WA1, today).day_out, t4->per_day);
    CHECK_EQ_INT(wv_at(WA1, today).year_out, 2 * t4->per_day);
    CHECK_EQ_INT(pay(today, ACT_A, WA1, WA2, 1), JZ_DAILY_LIMIT);
    CHECK_CONSERVED();
}

TEST(ledger_hold_resolved_in_new_year_touches_no_new_counters)
{
    int64_t start = T_NEWYEAR - 3600000;
    SETUP_AT(start);
    REQUIRE(open_funded(start, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2, 5000));
    REQUIRE(open_funded(start, ACT_A, WA2, LEDGER_WALLET_MERCHANT, 2, 0));
    jz_id h1 = nid(), h2 = nid(), h3 = nid();
    REQUIRE_EQ_INT(run(start, cmd_hold(ACT_A, h1, WA1, WA2, 1000, DAY_MS)), JZ_OK);
    REQUIRE_EQ_INT(run(start, cmd_hold(ACT_A, h2, WA1, WA2, 1000, DAY_MS)), JZ_OK);
    REQUIRE_EQ_INT(run(start, cmd_hold(ACT_A, h3, WA1, WA2, 1000, 2 * 3600000)), JZ_OK);
    CHECK_EQ_INT(wv_at(WA1, start).year_out, 3000);
    /* new year: capture part of h1, void h2, let h3 expire; then pay 50 */
    REQUIRE_EQ_INT(run(T_NEWYEAR, cmd_capture(ACT_A, h1, 400)), JZ_OK);
    REQUIRE_EQ_INT(run(T_NEWYEAR, cmd_void(ACT_A, h2)), JZ_OK);
    REQUIRE_EQ_INT(pay(T_NEWYEAR + 3600000, ACT_A, WA1, WA2, 50), JZ_OK);
    CHECK_EQ_INT(hv_of(h3).status, LEDGER_HOLD_EXPIRED);
    struct ledger_wallet_view v = wv_at(WA1, T_NEWYEAR + 3600000);
    CHECK_EQ_INT(v.held, 0);
    CHECK_EQ_INT(v.balance, 5000 - 400 - 50);
    CHECK_EQ_INT(v.day_out, 50);
    CHECK_EQ_INT(v.year_out, 50);
    CHECK_EQ_INT(bal(WA2), 450);
    CHECK_CONSERVED();
}

TEST(ledger_hold_expiry_next_day_keeps_today_counters)
{
    REQUIRE(hold_world());
    jz_id h = nid();
    /* T0 is noon: deadline is tomorrow 13:00 in UTC+8 */
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h, WA1, WA2, 600, DAY_MS + 3600000)), JZ_OK);
    REQUIRE_EQ_INT(pay(T0 + DAY_MS, ACT_A, WA1, WA2, 100), JZ_OK);
    tick(T0 + DAY_MS + 3600000);
    CHECK_EQ_INT(hv_of(h).status, LEDGER_HOLD_EXPIRED);
    struct ledger_wallet_view v = wv_at(WA1, T0 + DAY_MS + 3600000);
    CHECK_EQ_INT(v.held, 0);
    CHECK_EQ_INT(v.day_out, 100);
    CHECK_EQ_INT(v.year_out, 100);
    CHECK_EQ_INT(v.balance, 900);
    CHECK_CONSERVED();
}

TEST(ledger_close_credit_of_pending_hold)
{
    REQUIRE(hold_world());
    jz_id h = nid();
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, h, WA1, WA2, 600, 10000)), JZ_OK);
    /* WA2 is empty and holds nothing itself: it can close */
    CHECK_EQ_INT(run(T0, cmd_close(ACT_A, WA2)), JZ_OK);
    CHECK_RES(apply1(T0 + 1, cmd_capture(ACT_A, h, 0)), JZ_WALLET_CLOSED, LEDGER_FIELD_CREDIT);
    CHECK_EQ_INT(hv_of(h).status, LEDGER_HOLD_PENDING);
    CHECK_EQ_INT(held(WA1), 600);
    CHECK_EQ_INT(run(T0 + 1, cmd_void(ACT_A, h)), JZ_OK);
    CHECK_EQ_INT(held(WA1), 0);
    CHECK_EQ_INT(bal(WA1), 1000);
    CHECK_EQ_INT(bal(WA2), 0);
    CHECK_CONSERVED();
}

TEST(ledger_idem_expired_for_hold_id_and_chain_open_replay)
{
    REQUIRE(hold_world());
    int64_t w = ledger_get_config(L)->idempotency_window_ms;
    jz_id h = nid();
    struct ledger_cmd hc = cmd_hold(ACT_A, h, WA1, WA2, 10, 1000);
    REQUIRE_EQ_INT(run(T0, hc), JZ_OK);
    /* an open chain's ids remember linked_chain_open */
    jz_id t = nid();
    struct ledger_cmd oc = cmd_tx(ACT_A, LEDGER_KIND_P2P, t, WA1, WA2, 5);
    oc.flags = LEDGER_FLAG_LINKED;
    CHECK_EQ_INT(run(T0, oc), JZ_LINKED_OPEN);
    CHECK_EQ_INT(remembered(t), JZ_LINKED_OPEN);
    /* replayed inside a closed chain: its first result comes back and fails the chain */
    struct ledger_cmd c[2];
    struct ledger_result rs[2];
    c[0] = oc;
    c[1] = cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), WA1, WA2, 7);
    ledger_apply_batch(L, T0 + 1, c, 2, rs);
    CHECK_EQ_INT(rs[0].code, JZ_LINKED_OPEN);
    CHECK_EQ_INT(rs[0].replayed, 1);
    CHECK_EQ_INT(rs[0].timestamp, T0);
    CHECK_EQ_INT(rs[1].code, JZ_LINKED_FAILED);
    CHECK_EQ_INT(remembered(t), JZ_LINKED_OPEN);
    CHECK_EQ_INT(remembered(c[1].id), JZ_LINKED_FAILED);
    CHECK_EQ_INT(bal(WA2), 0);
    struct ledger_result r;
    /* a hold id past the window */
    r = apply1(T0 + w, hc);
    CHECK_EQ_INT(r.code, JZ_OK);
    CHECK_EQ_INT(r.replayed, 1);
    CHECK_EQ_INT(run(T0 + w + 1, hc), JZ_ID_EXPIRED);
    CHECK_EQ_INT(run(T0 + w + 1, cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, h, WA1, WA2, 10)),
                 JZ_ID_EXPIRED);
    struct ledger_wallet_view v = wv_at(WA1, T0 + w + 1);
    CHECK_EQ_INT(v.held, 0); /* the hold expired long ago */
    CHECK_EQ_INT(v.balance, 1000);
    CHECK_EQ_INT(hv_of(h).status, LEDGER_HOLD_EXPIRED);
    CHECK_CONSERVED();
}

TEST(ledger_hold_capacity_not_remembered)
{
    struct ledger_config cfg;
    ledger_config_default(&cfg, 100, 100);
    cfg.holds_max = 2;
    REQUIRE(fixture_cfg(&cfg, T0));
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2, 1000));
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_MERCHANT, 2, 0));
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, nid(), WA1, WA2, 100, 1000)), JZ_OK);
    REQUIRE_EQ_INT(run(T0, cmd_hold(ACT_A, nid(), WA1, WA2, 100, 1000)), JZ_OK);
    uint64_t entries = ledger_transfer_count(L);
    jz_id h = nid();
    struct ledger_cmd hc = cmd_hold(ACT_A, h, WA1, WA2, 100, 1000);
    CHECK_EQ_INT(run(T0, hc), JZ_CAPACITY_EXCEEDED);
    struct ledger_result rr;
    CHECK_EQ_INT(ledger_transfer_result(L, &h, &rr), -1);
    CHECK_EQ_INT(ledger_transfer_count(L), entries);
    struct ledger_wallet_view v = wv_at(WA1, T0);
    CHECK_EQ_INT(v.held, 200);
    CHECK_EQ_INT(v.day_out, 200);
    /* in a chain: the full member keeps capacity_exceeded, the others fail */
    struct ledger_cmd c[2];
    struct ledger_result r[2];
    c[0] = cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, nid(), WA1, WA2, 5);
    c[0].flags = LEDGER_FLAG_LINKED;
    c[1] = hc;
    ledger_apply_batch(L, T0, c, 2, r);
    CHECK_EQ_INT(r[0].code, JZ_LINKED_FAILED);
    CHECK_EQ_INT(r[1].code, JZ_CAPACITY_EXCEEDED);
    CHECK_EQ_INT(ledger_transfer_result(L, &h, &rr), -1);
    CHECK_EQ_INT(bal(WA2), 0);
    /* whether expired holds free their slots is the ledger's business; once the two
     * holds have expired, the same id may at least be retried without id_conflict */
    int code = run(T0 + 1000, hc);
    CHECK(code == JZ_OK || code == JZ_CAPACITY_EXCEEDED);
    if (code == JZ_OK) {
        CHECK_EQ_INT(held(WA1), 100);
    } else {
        CHECK_EQ_INT(held(WA1), 0);
    }
    CHECK_CONSERVED();
}

/* ---- Restricted wallets (targeted funds, red envelopes, escrow) ---- */

#define MERCH_FOOD idn(0x301) /* opb merchant, mcc 5411 */
#define MERCH_BAR idn(0x302)  /* opb merchant, mcc 5813 */
#define RW1 idn(0x401)
#define RW2 idn(0x402)

static struct ledger_cmd cmd_restricted(uint16_t actor, jz_id id, jz_id parent, jz_id return_to,
                                        int64_t expires_at, uint16_t mcc)
{
    struct ledger_cmd c = cmd_open(actor, id, LEDGER_WALLET_PERSONAL, 4);
    c.credit = parent;
    c.return_to = return_to;
    c.expires_at = expires_at;
    c.mcc_count = mcc ? 1 : 0;
    c.mccs[0] = mcc;
    return c;
}

/* Two opb merchants, a funder WB1 (opb) and a parent WA1 (opa) with a restricted child RW1
 * holding 5,000 fen of WB1's money until T0 + DAY_MS, for groceries (5411) only. */
static bool restricted_world(void)
{
    struct ledger_cmd m1 = cmd_open(ACT_B, MERCH_FOOD, LEDGER_WALLET_MERCHANT, 2);
    m1.mcc = 5411;
    struct ledger_cmd m2 = cmd_open(ACT_B, MERCH_BAR, LEDGER_WALLET_MERCHANT, 2);
    m2.mcc = 5813;
    return fixture_at(T0) && run(T0, m1) == JZ_OK && run(T0, m2) == JZ_OK &&
           open_funded(T0, ACT_B, WB1, LEDGER_WALLET_CORPORATE, 1, 1000000) &&
           open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2, 0) &&
           run(T0, cmd_restricted(ACT_A, RW1, WA1, WB1, T0 + DAY_MS, 5411)) == JZ_OK &&
           run(T0, cmd_tx(ACT_B, LEDGER_KIND_DISBURSEMENT, nid(), WB1, RW1, 5000)) == JZ_OK;
}

TEST(ledger_restricted_pays_only_listed_merchants_by_payment)
{
    REQUIRE(restricted_world());
    struct ledger_wallet_view v = wv_at(RW1, T0);
    CHECK(v.restricted);
    CHECK(!v.swept);
    CHECK(ideq(v.return_to, WB1));
    CHECK(ideq(v.parent, WA1));
    CHECK_EQ_INT(v.expires_at, T0 + DAY_MS);
    CHECK_EQ_INT(v.mcc_count, 1);
    CHECK_EQ_INT(v.mccs[0], 5411);
    CHECK(!wv_at(WA1, T0).restricted);
    CHECK_EQ_INT(ledger_restriction_count(L), 1);
    CHECK_EQ_INT(ledger_next_expiry(L), T0 + DAY_MS);
    /* the wrong category, a wallet that is no merchant, kinds other than payment */
    CHECK_RES(apply1(T0 + 1, cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, nid(), RW1, MERCH_BAR, 100)),
              JZ_RESTRICTED_CATEGORY, LEDGER_FIELD_CREDIT);
    CHECK_RES(apply1(T0 + 1, cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, nid(), RW1, WA1, 100)),
              JZ_RESTRICTED_CATEGORY, LEDGER_FIELD_CREDIT);
    CHECK_RES(apply1(T0 + 1, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), RW1, MERCH_FOOD, 100)),
              JZ_RESTRICTED_CATEGORY, LEDGER_FIELD_KIND);
    CHECK_RES(apply1(T0 + 1, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_OUT, nid(), RW1, TREAS_A, 100)),
              JZ_RESTRICTED_CATEGORY, LEDGER_FIELD_KIND);
    CHECK_EQ_INT(bal(RW1), 5000);
    /* the listed category, and the child's own tier limits still apply */
    CHECK_EQ_INT(pay(T0 + 2, ACT_A, RW1, MERCH_FOOD, 1200), JZ_OK);
    CHECK_EQ_INT(bal(RW1), 3800);
    CHECK_EQ_INT(bal(MERCH_FOOD), 1200);
    CHECK_EQ_INT(wv_at(RW1, T0 + 2).day_out, 1200);
    /* statuses come first (step 6), then the restriction (6a), then funds (8) */
    CHECK_RES(apply1(T0 + 3, cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, nid(), RW1, MERCH_FOOD, 5000)),
              JZ_INSUFFICIENT_FUNDS, LEDGER_FIELD_AMOUNT);
    REQUIRE_EQ_INT(run(T0 + 3, cmd_update(ACT_A, RW1, 0, LEDGER_STATUS_FROZEN)), JZ_OK);
    CHECK_RES(apply1(T0 + 3, cmd_tx(ACT_A, LEDGER_KIND_P2P, nid(), RW1, MERCH_FOOD, 1)),
              JZ_WALLET_FROZEN, LEDGER_FIELD_DEBIT);
    REQUIRE_EQ_INT(run(T0 + 3, cmd_update(ACT_A, RW1, 0, LEDGER_STATUS_ACTIVE)), JZ_OK);
    /* anyone may still fund it before the expiry */
    CHECK_EQ_INT(run(T0 + 4, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, RW1, 200)),
                 JZ_OK);
    CHECK_EQ_INT(bal(RW1), 4000);
    CHECK_CONSERVED();
}

TEST(ledger_restricted_sweep_once_at_expiry)
{
    REQUIRE(restricted_world());
    REQUIRE_EQ_INT(pay(T0 + 1, ACT_A, RW1, MERCH_FOOD, 1000), JZ_OK);
    int64_t funder = bal(WB1);
    /* 1 ms before: nothing happens, and the wallet still pays */
    tick(T0 + DAY_MS - 2);
    CHECK_EQ_INT(pay(T0 + DAY_MS - 1, ACT_A, RW1, MERCH_FOOD, 500), JZ_OK);
    CHECK(!wv_at(RW1, T0 + DAY_MS - 1).swept);
    CHECK_EQ_INT(bal(RW1), 3500);
    /* at the expiry, the first batch sweeps the rest home, before its commands run */
    CHECK_RES(apply1(T0 + DAY_MS, cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, nid(), RW1, MERCH_FOOD, 1)),
              JZ_FUNDS_EXPIRED, LEDGER_FIELD_DEBIT);
    struct ledger_wallet_view v = wv_at(RW1, T0 + DAY_MS);
    CHECK(v.swept);
    CHECK_EQ_INT(v.swept_at, T0 + DAY_MS);
    CHECK_EQ_INT(v.swept_amount, 3500);
    CHECK_EQ_INT(v.balance, 0);
    CHECK_EQ_INT(bal(WB1), funder + 3500);
    CHECK_EQ_INT(ledger_next_expiry(L), INT64_MAX);
    /* nothing enters after the expiry either, and later batches sweep nothing again */
    CHECK_RES(apply1(T0 + DAY_MS + 5, cmd_tx(ACT_B, LEDGER_KIND_DISBURSEMENT, nid(), WB1, RW1, 10)),
              JZ_FUNDS_EXPIRED, LEDGER_FIELD_CREDIT);
    tick(T0 + 3 * DAY_MS);
    CHECK_EQ_INT(bal(WB1), funder + 3500);
    CHECK_EQ_INT(wv_at(RW1, T0 + 3 * DAY_MS).swept_at, T0 + DAY_MS);
    /* the empty, expired wallet can be closed */
    CHECK_EQ_INT(run(T0 + 3 * DAY_MS, cmd_close(ACT_A, RW1)), JZ_OK);
    CHECK_CONSERVED();
}

TEST(ledger_restricted_sweep_order_and_closed_return_to)
{
    REQUIRE(restricted_world());
    /* RW2 returns to WA2, which is closed before the expiry: the money goes to WA2's
     * operator's treasury. Both expire together: RW1 (opened first) goes first. */
    REQUIRE(open_funded(T0, ACT_A, WA2, LEDGER_WALLET_PERSONAL, 1, 0));
    REQUIRE_EQ_INT(run(T0, cmd_restricted(ACT_A, RW2, WA1, WA2, T0 + DAY_MS, 0)), JZ_OK);
    REQUIRE_EQ_INT(run(T0, cmd_tx(ACT_B, LEDGER_KIND_CAMPAIGN, nid(), WB1, RW2, 700)), JZ_OK);
    REQUIRE_EQ_INT(run(T0 + 1, cmd_close(ACT_A, WA2)), JZ_OK);
    /* mcc_count 0: any merchant */
    CHECK_EQ_INT(pay(T0 + 2, ACT_A, RW2, MERCH_BAR, 100), JZ_OK);
    int64_t treasury = bal(TREAS_A);
    int64_t funder = bal(WB1);
    tick(T0 + DAY_MS + 7);
    CHECK_EQ_INT(bal(TREAS_A), treasury + 600);
    CHECK_EQ_INT(bal(WB1), funder + 5000);
    CHECK_EQ_INT(bal(WA2), 0);
    CHECK_EQ_INT(wv_at(RW2, T0 + DAY_MS + 7).swept_amount, 600);
    CHECK_EQ_INT(wv_at(RW1, T0 + DAY_MS + 7).swept_at, T0 + DAY_MS + 7);
    CHECK_CONSERVED();
}

TEST(ledger_restricted_holds_end_by_expiry)
{
    REQUIRE(restricted_world());
    int64_t left = DAY_MS - 10;
    /* a hold past the expiry is refused; one ending exactly at it is taken */
    CHECK_RES(apply1(T0 + 10, cmd_hold(ACT_A, nid(), RW1, MERCH_FOOD, 100, left + 1)),
              JZ_FUNDS_EXPIRED, LEDGER_FIELD_TIMEOUT_MS);
    CHECK_RES(apply1(T0 + 10, cmd_hold(ACT_A, nid(), RW1, MERCH_BAR, 100, 1000)),
              JZ_RESTRICTED_CATEGORY, LEDGER_FIELD_CREDIT);
    jz_id h1 = nid();
    jz_id h2 = nid();
    REQUIRE_EQ_INT(run(T0 + 10, cmd_hold(ACT_A, h1, RW1, MERCH_FOOD, 300, left)), JZ_OK);
    REQUIRE_EQ_INT(run(T0 + 10, cmd_hold(ACT_A, h2, RW1, MERCH_FOOD, 200, 5000)), JZ_OK);
    CHECK_EQ_INT(run(T0 + 20, cmd_capture(ACT_A, h2, 150)), JZ_OK);
    CHECK_EQ_INT(held(RW1), 300);
    /* at the expiry the hold expires first, then the sweep takes everything */
    int64_t funder = bal(WB1);
    tick(T0 + DAY_MS);
    CHECK_EQ_INT(hv_of(h1).status, LEDGER_HOLD_EXPIRED);
    CHECK_EQ_INT(held(RW1), 0);
    CHECK_EQ_INT(bal(RW1), 0);
    CHECK_EQ_INT(bal(WB1), funder + 5000 - 150);
    CHECK_CONSERVED();
}

TEST(ledger_restricted_open_checks_and_replay)
{
    REQUIRE(restricted_world());
    int64_t t = T0 + 5;
    jz_id w = idn(0x4ff);
    struct ledger_cmd c = cmd_restricted(ACT_A, w, WA1, WB1, t + 1000, 5411);
    struct ledger_cmd bad = c;
    bad.expires_at = 0;
    CHECK_RES(apply1(t, bad), JZ_INVALID_FIELD, LEDGER_FIELD_EXPIRES_AT);
    bad.expires_at = t;
    CHECK_RES(apply1(t, bad), JZ_INVALID_FIELD, LEDGER_FIELD_EXPIRES_AT);
    bad.expires_at = t + JZ_RESTRICTION_MAX_MS + 1;
    CHECK_RES(apply1(t, bad), JZ_INVALID_FIELD, LEDGER_FIELD_EXPIRES_AT);
    bad.expires_at = t + JZ_RESTRICTION_MAX_MS;
    bad.id = idn(0x4fe);
    CHECK_RES(apply1(t, bad), JZ_OK, LEDGER_FIELD_NONE);
    bad = c;
    bad.mcc_count = JZ_RESTRICTION_MCCS_MAX + 1;
    CHECK_RES(apply1(t, bad), JZ_INVALID_FIELD, LEDGER_FIELD_MCCS);
    bad.mcc_count = 2;
    bad.mccs[1] = 10000;
    CHECK_RES(apply1(t, bad), JZ_INVALID_FIELD, LEDGER_FIELD_MCCS);
    bad = c;
    memset(&bad.return_to, 0, sizeof bad.return_to);
    CHECK_RES(apply1(t, bad), JZ_INVALID_FIELD, LEDGER_FIELD_RETURN_TO);
    bad.return_to = idn(0x999);
    CHECK_RES(apply1(t, bad), JZ_WALLET_NOT_FOUND, LEDGER_FIELD_RETURN_TO);
    bad.return_to = ISSUANCE;
    CHECK_RES(apply1(t, bad), JZ_INVALID_FIELD, LEDGER_FIELD_RETURN_TO);
    bad.return_to = RW1;
    CHECK_RES(apply1(t, bad), JZ_INVALID_FIELD, LEDGER_FIELD_RETURN_TO);
    bad = cmd_open(ACT_A, w, LEDGER_WALLET_PERSONAL, 4);
    bad.mcc_count = 1;
    bad.mccs[0] = 5411;
    CHECK_RES(apply1(t, bad), JZ_INVALID_FIELD, LEDGER_FIELD_EXPIRES_AT);
    CHECK_EQ_INT(wv_at(w, t).status, 0xFF);
    /* opened once; the same open again is a replay; any difference a conflict */
    CHECK_RES(apply1(t, c), JZ_OK, LEDGER_FIELD_NONE);
    struct ledger_result r = apply1(t + 9, c);
    CHECK_EQ_INT(r.code, JZ_OK);
    CHECK_EQ_INT(r.replayed, 1);
    CHECK_EQ_INT(r.timestamp, t);
    bad = c;
    bad.return_to = WB2;
    CHECK_RES(apply1(t + 9, bad), JZ_ID_CONFLICT, LEDGER_FIELD_RETURN_TO);
    bad = c;
    bad.expires_at++;
    CHECK_RES(apply1(t + 9, bad), JZ_ID_CONFLICT, LEDGER_FIELD_EXPIRES_AT);
    bad = c;
    bad.mccs[0] = 5412;
    CHECK_RES(apply1(t + 9, bad), JZ_ID_CONFLICT, LEDGER_FIELD_MCCS);
    bad = cmd_open(ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2);
    bad.expires_at = t + 50;
    CHECK_RES(apply1(t + 9, bad), JZ_ID_CONFLICT, LEDGER_FIELD_EXPIRES_AT);
    CHECK_EQ_INT(ledger_restriction_count(L), 3);
    CHECK_CONSERVED();
}

TEST(ledger_restricted_capacity)
{
    struct ledger_config cfg;
    ledger_config_default(&cfg, 1000, 10000);
    cfg.restrictions_max = 1;
    REQUIRE(fixture_cfg(&cfg, T0));
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2, 0));
    CHECK_EQ_INT(run(T0, cmd_restricted(ACT_A, RW1, WA1, TREAS_B, T0 + 10, 0)), JZ_OK);
    CHECK_EQ_INT(run(T0, cmd_restricted(ACT_A, RW2, WA1, TREAS_B, T0 + 10, 0)),
                 JZ_CAPACITY_EXCEEDED);
    /* unrestricted wallets still open */
    CHECK_EQ_INT(run(T0, cmd_open(ACT_A, WA2, LEDGER_WALLET_PERSONAL, 2)), JZ_OK);
    CHECK_EQ_INT(ledger_wallet_count(L), 6);
    CHECK_EQ_INT(ledger_restriction_count(L), 1);
    CHECK_CONSERVED();
}

TEST(ledger_restricted_sweep_that_would_overflow_moves_nothing)
{
    /* All 2^63 fen the issuance account can issue sit in opa's treasury but 1 fen, which
     * sits in a restricted wallet returning to that treasury: the sweep would take the
     * treasury past INT64_MAX, so nothing moves and the fen stays, unspendable. */
    struct ledger_config cfg;
    ledger_config_default(&cfg, 100, 4096);
    REQUIRE(fixture_institutions(&cfg, T0));
    int64_t left = INT64_MAX;
    for (int i = 0; left > 0; i++) {
        int64_t a = left < JZ_AMOUNT_MAX ? left : JZ_AMOUNT_MAX;
        REQUIRE_EQ_INT(run(T0, cmd_tx(ACT_CENTRAL, LEDGER_KIND_ISSUE, idn(0x7000 + i), ISSUANCE,
                                      TREAS_A, a)), JZ_OK);
        left -= a;
    }
    REQUIRE_EQ_INT(run(T0, cmd_restricted(ACT_A, RW1, (jz_id){{0}}, TREAS_A, T0 + 10, 0)), JZ_OK);
    REQUIRE_EQ_INT(run(T0, cmd_tx(ACT_A, LEDGER_KIND_EXCHANGE_IN, nid(), TREAS_A, RW1, 1)), JZ_OK);
    /* the last fen: the issuance account reaches INT64_MIN */
    REQUIRE_EQ_INT(run(T0, cmd_tx(ACT_CENTRAL, LEDGER_KIND_ISSUE, nid(), ISSUANCE, TREAS_A, 1)),
                   JZ_OK);
    CHECK_EQ_INT(bal(TREAS_A), INT64_MAX);
    tick(T0 + 10);
    struct ledger_wallet_view v = wv_at(RW1, T0 + 10);
    CHECK(v.swept);
    CHECK_EQ_INT(v.swept_amount, 0);
    CHECK_EQ_INT(v.balance, 1);
    CHECK_RES(apply1(T0 + 11, cmd_tx(ACT_A, LEDGER_KIND_PAYMENT, nid(), RW1, TREAS_A, 1)),
              JZ_FUNDS_EXPIRED, LEDGER_FIELD_DEBIT);
    CHECK_CONSERVED();
}

TEST(ledger_restricted_state_round_trip_and_version_1)
{
    ser_reset();
    REQUIRE(restricted_world());
    REQUIRE_EQ_INT(ledger_serialize(L, buf_emit, &ser_a), 0);
    L2 = ledger_new(ledger_get_config(L));
    REQUIRE(L2 != NULL);
    REQUIRE_EQ_INT(ledger_deserialize(L2, buf_read, &ser_a), 0);
    REQUIRE_EQ_INT(ledger_serialize(L2, buf_emit, &ser_b), 0);
    REQUIRE_EQ_INT(ser_b.len, ser_a.len);
    CHECK_EQ_MEM(ser_a.p, ser_b.p, ser_a.len);
    /* both sweep the same way at the same time */
    ledger *orig = L;
    tick(T0 + DAY_MS);
    L = L2;
    tick(T0 + DAY_MS);
    CHECK_EQ_INT(wv_at(RW1, T0 + DAY_MS).swept_amount, 5000);
    L = orig;
    CHECK_EQ_INT(wv_at(RW1, T0 + DAY_MS).swept_amount, 5000);
    ser_reset();
    /* A state of version 1 (before restrictions): the same bytes without the restrictions
     * section, version field 1. */
    REQUIRE(fixture_at(T0));
    REQUIRE(open_funded(T0, ACT_A, WA1, LEDGER_WALLET_PERSONAL, 2, 300));
    REQUIRE_EQ_INT(ledger_serialize(L, buf_emit, &ser_a), 0);
    REQUIRE(ser_a.len > 8);
    ser_a.len -= 8; /* restriction count 0 and its padding */
    uint32_t one = 1;
    memcpy(ser_a.p + 4, &one, sizeof one);
    L2 = ledger_new(ledger_get_config(L));
    REQUIRE(L2 != NULL);
    REQUIRE_EQ_INT(ledger_deserialize(L2, buf_read, &ser_a), 0);
    CHECK_EQ_INT(ser_a.pos, ser_a.len);
    CHECK_EQ_INT(ledger_restriction_count(L2), 0);
    struct ledger_wallet_view v;
    jz_id wa1 = WA1;
    REQUIRE_EQ_INT(ledger_wallet_get(L2, &wa1, T0, &v), 0);
    CHECK_EQ_INT(v.balance, 300);
    ser_reset();
    CHECK_CONSERVED();
}

TEST(ledger_restricted_open_journal_encoding)
{
    /* A restricted open with a holder record round-trips through the journal encoding. */
    struct ledger_cmd c = cmd_restricted(ACT_A, RW1, WA1, WB1, T0 + 1234, 5411);
    c.mcc_count = 3;
    c.mccs[1] = 5812;
    c.mccs[2] = 4111;
    c.mcc = 0;
    c.holder_len = 20;
    memset(c.holder, 0xab, c.holder_len);
    uint8_t buf[COMMAND_BYTES_MAX];
    uint8_t again[COMMAND_BYTES_MAX];
    struct ledger_cmd d;
    size_t n = command_encode(&c, buf);
    CHECK_EQ_INT(n, 8 + 40 + 42 + 1 + 20);
    REQUIRE_EQ_INT(command_decode(buf, n, &d), n);
    CHECK(ideq(d.return_to, WB1));
    CHECK_EQ_INT(d.expires_at, T0 + 1234);
    CHECK_EQ_INT(d.mcc_count, 3);
    CHECK_EQ_INT(d.mccs[2], 4111);
    CHECK_EQ_INT(d.holder_len, 20);
    CHECK_EQ_INT(command_encode(&d, again), n);
    CHECK_EQ_MEM(buf, again, n);
    for (size_t cut = 1; cut < n; cut++) {
        /* Cut right after the restriction block is a well-formed open without a holder. */
        put_u16(buf + 2, (uint16_t)cut);
        CHECK_EQ_INT(command_decode(buf, n, &d), cut == 90 ? 90 : 0);
    }
    put_u16(buf + 2, (uint16_t)n);
    buf[41] |= 0x02; /* an unknown flag */
    CHECK_EQ_INT(command_decode(buf, n, &d), 0);
    /* An open as journalled before restrictions (flag byte 0) decodes as it did. */
    struct ledger_cmd plain = cmd_open(ACT_A, WA1, LEDGER_WALLET_MERCHANT, 2);
    plain.mcc = 5411;
    n = command_encode(&plain, buf);
    CHECK_EQ_INT(n, 48);
    CHECK_EQ_INT(buf[41], 0);
    REQUIRE_EQ_INT(command_decode(buf, n, &d), 48);
    CHECK_EQ_INT(d.expires_at, 0);
    CHECK_EQ_INT(d.mcc_count, 0);
    CHECK_EQ_INT(d.mcc, 5411);
    /* An invalid restriction (fields without an expiry) is journalled as it came, so that
     * replay refuses it the same way. */
    struct ledger_cmd odd = plain;
    odd.mcc_count = 1;
    odd.mccs[0] = 5411;
    n = command_encode(&odd, buf);
    REQUIRE_EQ_INT(command_decode(buf, n, &d), n);
    CHECK_EQ_INT(d.mcc_count, 1);
    CHECK_EQ_INT(d.expires_at, 0);
}
