/*
 * test_aml_scenario.c: the AML detectors (aml.h) against a seeded scenario: 30 days of
 * ordinary traffic (at least 100,000 payments among 10,000 ordinary wallets: people paying
 * merchants and friends, payrolls, top-ups, refunds, rent, the odd large payment) with
 * laundering patterns of every detector's kind injected by 240 subject wallets and their
 * accomplices. It prints each detector's recall (subjects of its kind it named; must be
 * >= 95%) and the false-positive rate on ordinary wallets (ordinary wallets named by any
 * finding; must be <= 1%). The detectors are driven directly, as the monitor drives them
 * from the journal, so the run takes well under a second.
 *
 *   --aml-seed N     another scenario (default 20250301)
 */
#include <math.h>

#include "aml.h"
#include "test.h"

#define DAY_MS (24LL * 3600 * 1000)
#define HOUR_MS (3600LL * 1000)
#define T0 1740758400000LL /* 2025-03-01 00:00 UTC+8 */
#define DAYS 30
#define CNY 100LL

#define ORD_PERSONS 8000
#define ORD_MERCHANTS 1500
#define ORD_CORPS 500
#define ORDINARY (ORD_PERSONS + ORD_MERCHANTS + ORD_CORPS)
#define PER_DETECTOR 40
#define SUBJECTS (AML_DETECTORS * PER_DETECTOR)
#define HELPERS 3000
#define TREASURY (ORDINARY + SUBJECTS + HELPERS)
#define WALLETS (TREASURY + 1)

struct rng {
    uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return jz_mix64(r->s);
}

static uint32_t below(struct rng *r, uint32_t n)
{
    return (uint32_t)(rnd(r) % n);
}

static double unit(struct rng *r)
{
    return (double)(rnd(r) >> 11) / 9007199254740992.0;
}

/* Log-normal amount in fen with the given median (CNY), clamped to [1 CNY, max]. */
static int64_t lognormal(struct rng *r, double median_cny, double sigma, int64_t max_fen)
{
    double u1 = unit(r) + 1e-12;
    double u2 = unit(r);
    double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
    int64_t v = (int64_t)(median_cny * exp(sigma * z) * CNY);
    return v < CNY ? CNY : v > max_fen ? max_fen : v;
}

static jz_id wid(uint32_t i)
{
    jz_id id;
    memset(&id, 0, sizeof id);
    uint64_t h = jz_mix64(i + 77);
    memcpy(id.b, &h, 8);
    memcpy(id.b + 8, &i, 4);
    id.b[15] = 0x5c;
    return id;
}

static uint32_t wix(const jz_id *id)
{
    uint32_t i;
    memcpy(&i, id->b + 8, 4);
    return i;
}

struct event {
    int64_t ts;
    uint32_t seq; /* generation order: ties keep it */
    uint32_t debit, credit;
    int64_t amount;
    uint8_t kind;
};

struct scenario {
    struct rng rng;
    struct event *ev;
    uint32_t n, cap;
    uint8_t subject_kind[WALLETS]; /* detector injected at this wallet, 0 = none */
    uint8_t found[WALLETS][AML_DETECTORS + 1];
    uint64_t findings, with_evidence, ordinary_payments;
    uint32_t next_helper;
};

static void add(struct scenario *s, int64_t ts, uint32_t d, uint32_t c, int64_t amount,
                uint8_t kind)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1 << 17;
        s->ev = realloc(s->ev, s->cap * sizeof *s->ev);
        ASSERT(s->ev != NULL);
    }
    s->ev[s->n] = (struct event){ts, s->n, d, c, amount, kind};
    s->n++;
}

static uint32_t helper(struct scenario *s)
{
    uint32_t h = ORDINARY + SUBJECTS + s->next_helper;
    s->next_helper = (s->next_helper + 1) % HELPERS;
    return h;
}

static int64_t day_time(struct scenario *s)
{
    return T0 + (int64_t)below(&s->rng, DAYS) * DAY_MS + 8 * HOUR_MS + below(&s->rng, 14 * 3600) * 1000LL;
}

/* ---- Ordinary traffic ---- */

static void ordinary(struct scenario *s)
{
    struct rng *r = &s->rng;
    /* Payroll: each company pays 10-20 people once a month. */
    for (uint32_t c = 0; c < ORD_CORPS; c++) {
        int64_t payday = T0 + (int64_t)(c % 28) * DAY_MS + 10 * HOUR_MS;
        uint32_t staff = 10 + below(r, 11);
        for (uint32_t k = 0; k < staff; k++) {
            add(s, payday + k * 1000, ORD_PERSONS + ORD_MERCHANTS + c, below(r, ORD_PERSONS),
                lognormal(r, 8000, 0.4, 60000 * CNY), LEDGER_KIND_DISBURSEMENT);
        }
    }
    uint32_t total = 100000;
    for (uint32_t i = 0; i < total; i++) {
        int64_t ts = day_time(s);
        uint32_t p = below(r, ORD_PERSONS);
        uint32_t roll = below(r, 100);
        if (roll < 66) { /* a person pays one of ~8 usual merchants */
            uint32_t m = ORD_PERSONS + (p * 7 + below(r, 8) * 131) % ORD_MERCHANTS;
            add(s, ts, p, m, lognormal(r, 45, 1.0, 5000 * CNY), LEDGER_KIND_PAYMENT);
        } else if (roll < 84) { /* p2p among ~6 friends */
            uint32_t f = (p + 1 + (p % 13 + below(r, 6)) * 97) % ORD_PERSONS;
            add(s, ts, p, f, lognormal(r, 120, 1.0, 2000 * CNY), LEDGER_KIND_P2P);
        } else if (roll < 90) { /* companies pay suppliers and merchants */
            uint32_t c = ORD_PERSONS + ORD_MERCHANTS + below(r, ORD_CORPS);
            uint32_t to = below(r, 2) ? ORD_PERSONS + below(r, ORD_MERCHANTS)
                                      : ORD_PERSONS + ORD_MERCHANTS + below(r, ORD_CORPS);
            add(s, ts, c, to, lognormal(r, 3000, 1.2, 49999 * CNY), LEDGER_KIND_PAYMENT);
        } else if (roll < 96) { /* top-up from the operator's treasury */
            add(s, ts, TREASURY, p, lognormal(r, 500, 0.8, 5000 * CNY), LEDGER_KIND_EXCHANGE_IN);
        } else if (roll < 98) { /* cash out */
            add(s, ts, p, TREASURY, lognormal(r, 300, 0.8, 3000 * CNY), LEDGER_KIND_EXCHANGE_OUT);
        } else if (roll < 99) { /* a refund */
            uint32_t m = ORD_PERSONS + below(r, ORD_MERCHANTS);
            add(s, ts, m, p, lognormal(r, 60, 0.8, 2000 * CNY), LEDGER_KIND_REFUND);
        } else { /* rent: a large monthly payment to a landlord */
            add(s, ts, p, (p * 31 + 5) % ORD_PERSONS, lognormal(r, 3000, 0.3, 9000 * CNY),
                LEDGER_KIND_P2P);
        }
    }
    s->ordinary_payments = s->n;
}

/* ---- Injected patterns: subject i of each detector ---- */

static void inject_structuring(struct scenario *s, uint32_t subj)
{
    int64_t ts = T0 + below(&s->rng, DAYS - 4) * DAY_MS;
    uint32_t n = 3 + below(&s->rng, 4);
    bool out = below(&s->rng, 4) != 0; /* mostly splitting payments, sometimes deposits */
    for (uint32_t k = 0; k < n; k++) {
        ts += (1 + (int64_t)below(&s->rng, 12)) * HOUR_MS;
        int64_t amount = 45000 * CNY + below(&s->rng, 4999 * CNY);
        uint32_t other = helper(s);
        add(s, ts, out ? subj : other, out ? other : subj, amount, LEDGER_KIND_P2P);
    }
}

static void inject_rapid(struct scenario *s, uint32_t subj)
{
    int64_t ts = day_time(s);
    int64_t in = (20000 + below(&s->rng, 80000)) * CNY;
    bool cash_in = below(&s->rng, 2);
    add(s, ts, cash_in ? TREASURY : helper(s), subj, in,
        cash_in ? LEDGER_KIND_EXCHANGE_IN : LEDGER_KIND_P2P);
    int64_t out = in * (85 + below(&s->rng, 16)) / 100;
    uint32_t legs = 1 + below(&s->rng, 3);
    for (uint32_t k = 0; k < legs; k++) {
        int64_t part = k + 1 == legs ? out - out / legs * k : out / legs;
        bool cash_out = below(&s->rng, 3) == 0;
        add(s, ts + (2 + below(&s->rng, 5)) * HOUR_MS + k, subj, cash_out ? TREASURY : helper(s),
            part, cash_out ? LEDGER_KIND_EXCHANGE_OUT : LEDGER_KIND_P2P);
    }
}

static void inject_fan(struct scenario *s, uint32_t subj, bool in)
{
    int64_t ts = day_time(s);
    uint32_t n = 20 + below(&s->rng, 21);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t other = helper(s);
        int64_t at = ts + (int64_t)below(&s->rng, 8 * 3600) * 1000;
        int64_t amount = (100 + below(&s->rng, 400)) * CNY;
        add(s, at, in ? other : subj, in ? subj : other, amount, LEDGER_KIND_P2P);
    }
}

static void inject_dormant(struct scenario *s, uint32_t subj)
{
    int64_t ts = day_time(s);
    int64_t amount = (20000 + below(&s->rng, 80000)) * CNY;
    add(s, ts, helper(s), subj, amount, LEDGER_KIND_P2P);
    add(s, ts + (int64_t)(1 + below(&s->rng, 40)) * HOUR_MS, subj, helper(s), amount / 3,
        LEDGER_KIND_PAYMENT);
}

static void inject_circular(struct scenario *s, uint32_t subj)
{
    int64_t ts = T0 + below(&s->rng, DAYS - 3) * DAY_MS + 9 * HOUR_MS;
    uint32_t len = below(&s->rng, 4) == 0 ? 4 : 3;
    uint32_t path[4] = {subj, helper(s), helper(s), helper(s)};
    int64_t amount = (50000 + below(&s->rng, 150000)) * CNY;
    for (uint32_t k = 0; k < len; k++) {
        ts += (1 + below(&s->rng, 12)) * HOUR_MS;
        add(s, ts, path[k], path[(k + 1) % len], amount, LEDGER_KIND_P2P);
        amount = amount * (95 + below(&s->rng, 5)) / 100; /* a fee taken at each hop */
    }
}

static void inject(struct scenario *s)
{
    for (uint32_t i = 0; i < SUBJECTS; i++) {
        uint32_t subj = ORDINARY + i;
        uint8_t det = (uint8_t)(1 + i / PER_DETECTOR);
        s->subject_kind[subj] = det;
        switch (det) {
        case AML_STRUCTURING: inject_structuring(s, subj); break;
        case AML_RAPID_IN_OUT: inject_rapid(s, subj); break;
        case AML_FAN_IN: inject_fan(s, subj, true); break;
        case AML_FAN_OUT: inject_fan(s, subj, false); break;
        case AML_DORMANT: inject_dormant(s, subj); break;
        default: inject_circular(s, subj); break;
        }
    }
}

/* ---- Running ---- */

static void on_finding(void *ctx, const struct aml_finding *f)
{
    struct scenario *s = ctx;
    s->found[wix(&f->subject)][f->detector] = 1;
    s->findings++;
    bool has_trigger = false;
    for (uint32_t i = 0; i < f->nevidence; i++) {
        has_trigger = has_trigger || jz_id_eq(&f->evidence[i], &f->trigger);
    }
    s->with_evidence += f->nevidence > 0 && has_trigger;
}

static int by_time(const void *a, const void *b)
{
    const struct event *x = a;
    const struct event *y = b;
    return x->ts != y->ts ? (x->ts < y->ts ? -1 : 1) : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

static void declare_wallets(aml *a, struct rng *r)
{
    for (uint32_t i = 0; i < WALLETS; i++) {
        uint8_t kind = i < ORD_PERSONS ? LEDGER_WALLET_PERSONAL
                     : i < ORD_PERSONS + ORD_MERCHANTS ? LEDGER_WALLET_MERCHANT
                     : i < ORDINARY ? LEDGER_WALLET_CORPORATE
                     : i == TREASURY ? LEDGER_WALLET_TREASURY : LEDGER_WALLET_PERSONAL;
        /* Most wallets are weeks old; one ordinary wallet in ten, and the dormant subjects,
         * were opened more than half a year ago and not used since. */
        int64_t age = i % 10 == 3 && i < ORDINARY ? 200 + below(r, 200) : 1 + below(r, 60);
        if (i >= ORDINARY + (AML_DORMANT - 1) * PER_DETECTOR && i < ORDINARY + AML_DORMANT * PER_DETECTOR) {
            age = 200 + below(r, 300);
        }
        jz_id id = wid(i);
        aml_wallet(a, &id, kind, NULL, T0 - age * DAY_MS);
    }
}

TEST(aml_scenario_recall_and_false_positives)
{
    static struct scenario s; /* large: keep it off the stack */
    memset(&s, 0, sizeof s);
    long seed = test_opt_long("--aml-seed", 20250301);
    s.rng.s = (uint64_t)seed;
    struct aml_sink sink = {.finding = on_finding, .ctx = &s};
    aml *a = aml_new(WALLETS + 16, 1u << 20, &sink);
    REQUIRE(a != NULL);
    declare_wallets(a, &s.rng);
    ordinary(&s);
    inject(&s);
    qsort(s.ev, s.n, sizeof *s.ev, by_time);
    for (uint32_t i = 0; i < s.n; i++) {
        const struct event *e = &s.ev[i];
        struct aml_transfer t = {.debit = wid(e->debit), .credit = wid(e->credit),
                                 .amount = e->amount, .ts = e->ts, .kind = e->kind};
        memcpy(t.id.b, &i, 4);
        memcpy(t.id.b + 4, &seed, 8);
        t.id.b[15] = 0x7e;
        aml_transfer(a, &t);
    }
    printf("  AML scenario (seed %ld): %" PRIu64 " ordinary payments among %d ordinary wallets,"
           " %u payments in all, %d injected subjects\n",
           seed, s.ordinary_payments, ORDINARY, s.n, SUBJECTS);
    CHECK(s.ordinary_payments >= 100000);
    for (int d = 1; d <= AML_DETECTORS; d++) {
        uint32_t hit = 0;
        for (uint32_t i = ORDINARY; i < ORDINARY + SUBJECTS; i++) {
            hit += s.subject_kind[i] == d && s.found[i][d];
        }
        double recall = 100.0 * hit / PER_DETECTOR;
        printf("  recall %-13s %3u/%d = %5.1f%%\n", aml_detector_name(d), hit, PER_DETECTOR,
               recall);
        if (recall < 95.0) {
            test_fail(__FILE__, __LINE__, "recall of %s is %.1f%% < 95%% (seed %ld)",
                      aml_detector_name(d), recall, seed);
        }
    }
    uint32_t fp = 0;
    uint32_t fp_by[AML_DETECTORS + 1] = {0};
    for (uint32_t i = 0; i < ORDINARY; i++) {
        bool any = false;
        for (int d = 1; d <= AML_DETECTORS; d++) {
            fp_by[d] += s.found[i][d];
            any = any || s.found[i][d];
        }
        fp += any;
    }
    double rate = 100.0 * fp / ORDINARY;
    printf("  false positives on ordinary wallets: %u/%d = %.2f%% (", fp, ORDINARY, rate);
    for (int d = 1; d <= AML_DETECTORS; d++) {
        printf("%s%s %u", d > 1 ? ", " : "", aml_detector_name(d), fp_by[d]);
    }
    printf(")\n  findings %" PRIu64 ", with evidence naming the completing transfer %" PRIu64 "\n",
           s.findings, s.with_evidence);
    CHECK(rate <= 1.0);
    CHECK_EQ_INT(s.with_evidence, s.findings);
    struct aml_stats st;
    aml_get_stats(a, &st);
    CHECK_EQ_INT(st.untracked, 0);
    CHECK_EQ_INT(st.transfers, s.n);
    aml_free(a);
    free(s.ev);
}
