/*
 * test_clearing.c: the pure clearing module: fee rounding at its boundaries, the schedule's
 * parser (every refusal names its field, the canonical text round-trips), netting of seeded
 * random cycles among many institutions against a plain reference computation, overflow,
 * and reconciliation with every class of difference injected.
 */
#include "clearing.h"
#include "ledger.h"
#include "test.h"

static struct clearing_rule rule(int64_t rate_ppm, int64_t fixed, int64_t min, int64_t max)
{
    struct clearing_rule r = {.kinds = CLEARING_KIND_BIT(LEDGER_KIND_PAYMENT),
                              .mcc_max = 9999,
                              .rate_ppm = rate_ppm,
                              .fixed = fixed,
                              .min = min,
                              .max = max};
    return r;
}

TEST(clearing_fee_rounds_half_up_on_the_fen)
{
    struct clearing_rule half = rule(500000, 0, 0, -1);  /* 50% */
    CHECK_EQ_INT(clearing_fee_amount(&half, 1), 1);      /* 0.5 fen goes up */
    CHECK_EQ_INT(clearing_fee_amount(&half, 3), 2);      /* 1.5 -> 2 */
    CHECK_EQ_INT(clearing_fee_amount(&half, 5), 3);      /* 2.5 -> 3 (banker's would say 2) */
    struct clearing_rule tenth = rule(100000, 0, 0, -1); /* 10% */
    CHECK_EQ_INT(clearing_fee_amount(&tenth, 5), 1);     /* 0.5 -> 1 (banker's: 0) */
    CHECK_EQ_INT(clearing_fee_amount(&tenth, 4), 0);     /* 0.4 -> 0 */
    CHECK_EQ_INT(clearing_fee_amount(&tenth, 14), 1);    /* 1.4 -> 1 */
    CHECK_EQ_INT(clearing_fee_amount(&tenth, 15), 2);    /* 1.5 -> 2 */
    struct clearing_rule bp30 = rule(3000, 0, 0, -1);    /* 0.30% */
    CHECK_EQ_INT(clearing_fee_amount(&bp30, 166), 0);    /* 0.498 */
    CHECK_EQ_INT(clearing_fee_amount(&bp30, 167), 1);    /* 0.501 */
    CHECK_EQ_INT(clearing_fee_amount(&bp30, 500), 2);    /* 1.5 exactly -> 2 */
    CHECK_EQ_INT(clearing_fee_amount(&bp30, 499), 1);    /* 1.497 */
    /* Just below and at a half: 1 ppm of 500,000 fen is exactly 0.5. */
    struct clearing_rule ppm1 = rule(1, 0, 0, -1);
    CHECK_EQ_INT(clearing_fee_amount(&ppm1, 499999), 0);
    CHECK_EQ_INT(clearing_fee_amount(&ppm1, 500000), 1);
    CHECK_EQ_INT(clearing_fee_amount(&ppm1, 1499999), 1);
    CHECK_EQ_INT(clearing_fee_amount(&ppm1, 1500000), 2);
    /* The largest amount at the largest rate: exact in 128 bits, and capped by the amount. */
    struct clearing_rule all = rule(CLEARING_PPM, 0, 0, -1);
    CHECK_EQ_INT(clearing_fee_amount(&all, JZ_AMOUNT_MAX), JZ_AMOUNT_MAX);
    struct clearing_rule big = rule(999999, 0, 0, -1);
    CHECK_EQ_INT(clearing_fee_amount(&big, JZ_AMOUNT_MAX), 8999991000000000LL);
    /* Fixed part, minimum, cap, and never more than the amount. */
    struct clearing_rule sw = rule(100, 1, 0, 500);
    CHECK_EQ_INT(clearing_fee_amount(&sw, 1), 1);
    CHECK_EQ_INT(clearing_fee_amount(&sw, 4999), 1);      /* 0.4999 -> 0, + 1 */
    CHECK_EQ_INT(clearing_fee_amount(&sw, 5000), 2);      /* 0.5 -> 1, + 1 */
    CHECK_EQ_INT(clearing_fee_amount(&sw, 4990000), 500); /* 499 + 1 = 500: at the cap */
    CHECK_EQ_INT(clearing_fee_amount(&sw, 5000000), 500); /* 500 + 1 capped */
    struct clearing_rule floor = rule(0, 0, 30, -1);
    CHECK_EQ_INT(clearing_fee_amount(&floor, 100), 30);
    CHECK_EQ_INT(clearing_fee_amount(&floor, 20), 20); /* the minimum, but not above the amount */
    struct clearing_rule fixed = rule(0, 250, 0, -1);
    CHECK_EQ_INT(clearing_fee_amount(&fixed, 100), 100);
}

TEST(clearing_fee_rules_match_first_by_kind_and_category)
{
    struct clearing_schedule s;
    clearing_schedule_default(&s);
    const struct clearing_fee *ic = &s.fees[0];
    CHECK_EQ_INT(clearing_fee_rule(ic, LEDGER_KIND_PAYMENT, 5411)->rate_ppm, 1500);
    CHECK_EQ_INT(clearing_fee_rule(ic, LEDGER_KIND_PAYMENT, 5412)->rate_ppm, 3000);
    CHECK(clearing_fee_rule(ic, LEDGER_KIND_BILL, 4900) == NULL);
    CHECK(clearing_fee_rule(ic, LEDGER_KIND_REFUND, 5411) == NULL);
    /* A payment of 10,000 fen from opa's customer to opb's merchant (category 5812). */
    struct clearing_item it = {
        .amount = 10000, .from = 1, .to = 2, .mcc = 5812, .kind = LEDGER_KIND_PAYMENT};
    struct clearing_fee_line lines[CLEARING_FEES_MAX];
    REQUIRE_EQ_INT(clearing_item_fees(&s, &it, lines), 3);
    CHECK(lines[0].payer == 2 && lines[0].payee == 1 && lines[0].amount == 30); /* interchange */
    CHECK(lines[1].payer == 1 && lines[1].payee == 0 && lines[1].amount == 2);  /* 1 + 1 */
    CHECK(lines[2].payer == 2 && lines[2].payee == 0 && lines[2].amount == 2);
    /* Its refund: opb's merchant pays opa's customer back; interchange comes back too. */
    it.kind = LEDGER_KIND_REFUND;
    it.from = 2;
    it.to = 1;
    REQUIRE_EQ_INT(clearing_item_fees(&s, &it, lines), 3);
    CHECK(lines[0].payer == 1 && lines[0].payee == 2 && lines[0].amount == 30);
    CHECK(lines[1].payer == 1 && lines[1].payee == 0); /* the customer's side's switch fee */
    it.kind = LEDGER_KIND_ADJUSTMENT;
    CHECK_EQ_INT(clearing_item_fees(&s, &it, lines), 0);
}

TEST(clearing_schedule_round_trips_and_refuses_bad_input_by_field)
{
    struct clearing_schedule s;
    struct clearing_schedule back;
    struct api_error e;
    clearing_schedule_default(&s);
    struct jbuf b;
    jb_init(&b);
    clearing_schedule_write(&s, &b);
    REQUIRE(!b.failed);
    REQUIRE_EQ_INT(clearing_schedule_parse(b.p, b.len, &back, &e), 0);
    struct jbuf b2;
    jb_init(&b2);
    clearing_schedule_write(&back, &b2);
    CHECK_EQ_STR(b.p, b2.p);
    CHECK(strstr(b.p, "\"mcc\":\"5411\"") != NULL && strstr(b.p, "\"max\":null") != NULL);
    jb_free(&b);
    jb_free(&b2);
    static const struct {
        const char *text;
        int code;
        const char *field;
    } bad[] = {
        {"[]", JZ_INVALID_JSON, ""},
        {"{\"fees\":[]}", JZ_MISSING_FIELD, "version"},
        {"{\"version\":\"v\",\"fees\":[],\"x\":1}", JZ_UNKNOWN_FIELD, "x"},
        {"{\"version\":\"\",\"fees\":[]}", JZ_INVALID_FIELD, "version"},
        {"{\"version\":\"v\",\"fees\":[{\"name\":\"A\",\"charged_to\":\"customer\",\"paid_to\":"
         "\"central\",\"rules\":[]}]}",
         JZ_INVALID_FIELD, "fees[0].name"},
        {"{\"version\":\"v\",\"fees\":[{\"name\":\"a\",\"charged_to\":\"central\",\"paid_to\":"
         "\"customer\",\"rules\":[]}]}",
         JZ_INVALID_FIELD, "fees[0].charged_to"},
        {"{\"version\":\"v\",\"fees\":[{\"name\":\"a\",\"charged_to\":\"merchant\",\"paid_to\":"
         "\"merchant\",\"rules\":[]}]}",
         JZ_INVALID_FIELD, "fees[0].paid_to"},
        {"{\"version\":\"v\",\"fees\":[{\"name\":\"a\",\"charged_to\":\"merchant\",\"paid_to\":"
         "\"bank\",\"rules\":[]}]}",
         JZ_INVALID_FIELD, "fees[0].paid_to"},
        {"{\"version\":\"v\",\"fees\":[{\"name\":\"a\",\"charged_to\":\"merchant\",\"paid_to\":"
         "\"central\",\"rules\":[]}]}",
         JZ_INVALID_FIELD, "fees[0].rules"},
        {"{\"version\":\"v\",\"fees\":[{\"name\":\"a\",\"charged_to\":\"merchant\",\"paid_to\":"
         "\"central\",\"rules\":[{\"kinds\":[\"p2p\"],\"mcc\":\"*\",\"rate_ppm\":1}]}]}",
         JZ_INVALID_FIELD, "fees[0].rules[0].kinds"},
        {"{\"version\":\"v\",\"fees\":[{\"name\":\"a\",\"charged_to\":\"merchant\",\"paid_to\":"
         "\"central\",\"rules\":[{\"kinds\":[\"bill\",\"bill\"],\"mcc\":\"*\",\"rate_ppm\":1}]}]}",
         JZ_INVALID_FIELD, "fees[0].rules[0].kinds"},
        {"{\"version\":\"v\",\"fees\":[{\"name\":\"a\",\"charged_to\":\"merchant\",\"paid_to\":"
         "\"central\",\"rules\":[{\"kinds\":[\"bill\"],\"mcc\":\"5000-4000\",\"rate_ppm\":1}]}]}",
         JZ_INVALID_FIELD, "fees[0].rules[0].mcc"},
        {"{\"version\":\"v\",\"fees\":[{\"name\":\"a\",\"charged_to\":\"merchant\",\"paid_to\":"
         "\"central\",\"rules\":[{\"kinds\":[\"bill\"],\"mcc\":\"12345\",\"rate_ppm\":1}]}]}",
         JZ_INVALID_FIELD, "fees[0].rules[0].mcc"},
        {"{\"version\":\"v\",\"fees\":[{\"name\":\"a\",\"charged_to\":\"merchant\",\"paid_to\":"
         "\"central\",\"rules\":[{\"kinds\":[\"bill\"],\"mcc\":\"*\",\"rate_ppm\":1000001}]}]}",
         JZ_INVALID_FIELD, "fees[0].rules[0].rate_ppm"},
        {"{\"version\":\"v\",\"fees\":[{\"name\":\"a\",\"charged_to\":\"merchant\",\"paid_to\":"
         "\"central\",\"rules\":[{\"kinds\":[\"bill\"],\"mcc\":\"*\",\"rate_ppm\":1,\"min\":5,"
         "\"max\":4}]}]}",
         JZ_INVALID_FIELD, "fees[0].rules[0].max"},
        {"{\"version\":\"v\",\"fees\":[{\"name\":\"a\",\"charged_to\":\"merchant\",\"paid_to\":"
         "\"central\",\"rules\":[{\"kinds\":[\"bill\"],\"mcc\":\"*\",\"rate_ppm\":1,"
         "\"fixed\":-1}]}]}",
         JZ_INVALID_FIELD, "fees[0].rules[0].fixed"},
        {"{\"version\":\"v\",\"fees\":[{\"name\":\"a\",\"charged_to\":\"merchant\",\"paid_to\":"
         "\"central\",\"rules\":[{\"kinds\":[\"bill\"],\"mcc\":\"*\"}]}]}",
         JZ_MISSING_FIELD, "fees[0].rules[0].rate_ppm"},
        {"{\"version\":\"v\",\"fees\":[{\"name\":\"a\",\"charged_to\":\"merchant\",\"paid_to\":"
         "\"central\",\"rules\":[{\"kinds\":[\"bill\"],\"mcc\":\"*\",\"rate_ppm\":1}]},"
         "{\"name\":\"a\",\"charged_to\":\"merchant\",\"paid_to\":\"central\",\"rules\":"
         "[{\"kinds\":[\"bill\"],\"mcc\":\"*\",\"rate_ppm\":1}]}]}",
         JZ_INVALID_FIELD, "fees[1].name"},
    };
    for (size_t i = 0; i < JZ_ARRAY_LEN(bad); i++) {
        int rc = clearing_schedule_parse(bad[i].text, strlen(bad[i].text), &back, &e);
        CHECK_EQ_INT(rc, -1);
        if (rc == -1) {
            CHECK_EQ_INT(e.code, bad[i].code);
            CHECK_EQ_STR(e.field, bad[i].field);
        }
    }
}

/* ---- Netting: seeded random cycles against a reference ---- */

static uint64_t rng_next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ULL;
    return jz_mix64(*s);
}

static void random_schedule(uint64_t *rs, struct clearing_schedule *s)
{
    static const uint8_t roles[][2] = {{CLEARING_ROLE_MERCHANT, CLEARING_ROLE_CUSTOMER},
                                       {CLEARING_ROLE_CUSTOMER, CLEARING_ROLE_MERCHANT},
                                       {CLEARING_ROLE_CUSTOMER, CLEARING_ROLE_CENTRAL},
                                       {CLEARING_ROLE_MERCHANT, CLEARING_ROLE_CENTRAL}};
    memset(s, 0, sizeof *s);
    snprintf(s->version, sizeof s->version, "random");
    s->nfees = 1 + (uint32_t)(rng_next(rs) % CLEARING_FEES_MAX);
    for (uint32_t f = 0; f < s->nfees; f++) {
        struct clearing_fee *fee = &s->fees[f];
        snprintf(fee->name, sizeof fee->name, "f%u", f);
        fee->charged_to = roles[f % 4][0];
        fee->paid_to = roles[f % 4][1];
        fee->nrules = 1 + (uint32_t)(rng_next(rs) % 5);
        for (uint32_t k = 0; k < fee->nrules; k++) {
            struct clearing_rule *r = &fee->rules[k];
            r->kinds = (uint32_t)(rng_next(rs) % 7 + 1) << LEDGER_KIND_PAYMENT;
            r->mcc_min = (uint16_t)(rng_next(rs) % 6000);
            r->mcc_max = (uint16_t)(r->mcc_min + rng_next(rs) % 4000);
            /* Rates that put exact halves of a fen within reach of small amounts. */
            static const int64_t halves[] = {500000, 100000, 5000, 3000, 1500, 1};
            uint64_t pick = rng_next(rs) % 12;
            r->rate_ppm =
                pick < JZ_ARRAY_LEN(halves) ? halves[pick] : (int64_t)(rng_next(rs) % 50000);
            r->fixed = (int64_t)(rng_next(rs) % 20);
            r->min = (int64_t)(rng_next(rs) % 10);
            r->max = rng_next(rs) % 3 == 0 ? -1 : r->min + (int64_t)(rng_next(rs) % 5000);
        }
    }
}

/* The reference: the same rounding written another way (floor((2x + D) / 2D)), rules found
 * by a plain scan, and every obligation kept in a list summed per institution at the end. */
static int64_t ref_fee(const struct clearing_rule *r, int64_t amount)
{
    __int128 x = (__int128)amount * r->rate_ppm;
    int64_t fee = (int64_t)((2 * x + CLEARING_PPM) / (2 * CLEARING_PPM)) + r->fixed;
    fee = fee < r->min ? r->min : fee;
    fee = r->max >= 0 && fee > r->max ? r->max : fee;
    return fee < amount ? fee : amount;
}

struct obligation {
    uint16_t from, to;
    int64_t amount;
};

static size_t ref_obligations(const struct clearing_schedule *s, const struct clearing_item *it,
                              struct obligation *out)
{
    size_t n = 0;
    out[n++] = (struct obligation){it->from, it->to, it->amount};
    if (it->kind == LEDGER_KIND_ADJUSTMENT) {
        return n;
    }
    uint16_t customer = it->kind == LEDGER_KIND_REFUND ? it->to : it->from;
    uint16_t merchant = it->kind == LEDGER_KIND_REFUND ? it->from : it->to;
    for (uint32_t f = 0; f < s->nfees; f++) {
        for (uint32_t k = 0; k < s->fees[f].nrules; k++) {
            const struct clearing_rule *r = &s->fees[f].rules[k];
            if (!(r->kinds >> it->kind & 1) || it->mcc < r->mcc_min || it->mcc > r->mcc_max) {
                continue;
            }
            uint16_t who[4] = {0, customer, merchant, 0};
            out[n++] = (struct obligation){who[s->fees[f].charged_to], who[s->fees[f].paid_to],
                                           ref_fee(r, it->amount)};
            break;
        }
    }
    return n;
}

static void random_item(uint64_t *rs, uint32_t n, struct clearing_item *it)
{
    static const uint8_t kinds[] = {LEDGER_KIND_PAYMENT, LEDGER_KIND_PAYMENT, LEDGER_KIND_BILL,
                                    LEDGER_KIND_REFUND, LEDGER_KIND_ADJUSTMENT};
    memset(it, 0, sizeof *it);
    it->from = (uint16_t)(1 + rng_next(rs) % (n - 1));
    uint32_t step = 1 + (uint32_t)(rng_next(rs) % (n - 2)); /* another operator */
    it->to = (uint16_t)(1 + (it->from - 1 + step) % (n - 1));
    it->kind = kinds[rng_next(rs) % JZ_ARRAY_LEN(kinds)];
    it->mcc = (uint16_t)(rng_next(rs) % 10000);
    uint64_t r = rng_next(rs);
    int64_t range = r % 10 == 0 ? 1000000000000LL : r % 10 < 5 ? 2000 : 200000;
    it->amount = 1 + (int64_t)(r >> 8) % range;
}

TEST(clearing_netting_matches_reference_on_seeded_random_cycles)
{
    uint64_t seed = test_seed();
    uint64_t rs = seed;
    struct obligation ob[1 + CLEARING_FEES_MAX];
    static int64_t ref_net[JZ_INSTITUTIONS_MAX];
    static int64_t ref_pair[64][64];
    int cycles = (int)test_opt_long("clearing-cycles", 40);
    for (int cyc = 0; cyc < cycles && !test_failed(); cyc++) {
        uint32_t n = 3 + (uint32_t)(rng_next(&rs) % 58); /* central and 2..60 operators */
        uint32_t items = (uint32_t)(rng_next(&rs) % 5000);
        struct clearing_schedule s;
        random_schedule(&rs, &s);
        struct clearing_net net;
        REQUIRE_EQ_INT(clearing_net_init(&net, n, s.nfees), 0);
        memset(ref_net, 0, sizeof ref_net);
        memset(ref_pair, 0, sizeof ref_pair);
        int64_t gross = 0;
        for (uint32_t k = 0; k < items; k++) {
            struct clearing_item it;
            random_item(&rs, n, &it);
            REQUIRE_EQ_INT(clearing_net_add(&net, &s, &it), 0);
            gross += it.amount;
            size_t no = ref_obligations(&s, &it, ob);
            for (size_t x = 0; x < no; x++) {
                ref_net[ob[x].from] -= ob[x].amount;
                ref_net[ob[x].to] += ob[x].amount;
                ref_pair[ob[x].from][ob[x].to] += ob[x].amount;
            }
        }
        int64_t sum = 0;
        int64_t pay_sum = 0;
        for (uint32_t i = 0; i < n; i++) {
            struct clearing_position t;
            REQUIRE_EQ_INT(clearing_net_total(&net, i, &t), 0);
            sum += t.net;
            pay_sum += t.pay;
            if (t.net != ref_net[i]) {
                test_fail(__FILE__, __LINE__,
                          "seed %" PRIu64 " cycle %d: institution %u net %" PRId64
                          " != reference %" PRId64,
                          seed, cyc, i, t.net, ref_net[i]);
            }
            int64_t bilateral = 0;
            for (uint32_t j = 0; j < n; j++) {
                struct clearing_position p;
                REQUIRE_EQ_INT(clearing_net_pair(&net, i, j, &p), 0);
                bilateral += p.net;
                int64_t want = ref_pair[j][i] - ref_pair[i][j];
                if (p.net != want || p.pay + p.fees_pay != ref_pair[i][j]) {
                    test_fail(__FILE__, __LINE__,
                              "seed %" PRIu64 " cycle %d: pair %u-%u net %" PRId64
                              " != reference %" PRId64,
                              seed, cyc, i, j, p.net, want);
                }
            }
            CHECK_EQ_INT(bilateral, t.net);
        }
        CHECK_EQ_INT(sum, 0);         /* net positions sum to zero */
        CHECK_EQ_INT(pay_sum, gross); /* and account for every gross obligation */
        CHECK_EQ_INT(net.items, items);
        clearing_net_free(&net);
    }
}

TEST(clearing_netting_refuses_an_overflowing_item_and_keeps_the_rest)
{
    struct clearing_schedule none = {.version = "none"};
    struct clearing_net net;
    REQUIRE_EQ_INT(clearing_net_init(&net, 3, 0), 0);
    struct clearing_item it = {
        .from = 1, .to = 2, .amount = JZ_AMOUNT_MAX, .kind = LEDGER_KIND_PAYMENT};
    int added = 0;
    while (clearing_net_add(&net, &none, &it) == 0) {
        added++;
    }
    CHECK_EQ_INT(added, INT64_MAX / JZ_AMOUNT_MAX); /* 1024 fit, the 1025th would not */
    CHECK(net.overflow);
    CHECK_EQ_INT(net.gross[1 * 3 + 2], (int64_t)added * JZ_AMOUNT_MAX);
    CHECK_EQ_INT(net.items, (uint64_t)added);
    clearing_net_free(&net);
}

/* ---- Reconciliation ---- */

static jz_id rid(uint32_t k)
{
    jz_id id;
    memset(&id, 0, sizeof id);
    uint64_t h = jz_mix64(k + 1);
    memcpy(id.b, &h, 8);
    memcpy(id.b + 8, &k, 4);
    return id;
}

TEST(clearing_reconcile_finds_and_classifies_every_injected_difference)
{
    uint64_t rs = test_seed();
    enum { N = 2000 };
    static struct clearing_record ours[N];
    static struct clearing_record theirs[N + 100];
    static uint8_t expect[N + 200];
    static jz_id expect_id[N + 200];
    for (int round = 0; round < 5; round++) {
        size_t no = 0;
        size_t nt = 0;
        size_t ne = 0;
        for (uint32_t k = 0; k < N; k++) {
            int64_t amount = (int64_t)(rng_next(&rs) % 100000) + 1;
            amount = rng_next(&rs) % 2 ? amount : -amount;
            uint64_t what = rng_next(&rs) % 40;
            jz_id id = rid(k + (uint32_t)round * N);
            if (what == 0) { /* they lack it */
                ours[no++] = (struct clearing_record){id, amount};
                expect[ne] = CLEARING_DIFF_MISSING_THERE;
                expect_id[ne++] = id;
            } else if (what == 1) { /* we lack it */
                theirs[nt++] = (struct clearing_record){id, amount};
                expect[ne] = CLEARING_DIFF_MISSING_HERE;
                expect_id[ne++] = id;
            } else if (what == 2 || what == 3) { /* a different amount, or the other direction */
                ours[no++] = (struct clearing_record){id, amount};
                theirs[nt++] = (struct clearing_record){id, what == 2 ? amount + 1 : -amount};
                expect[ne] = CLEARING_DIFF_AMOUNT;
                expect_id[ne++] = id;
            } else if (what == 4) { /* they recorded it twice */
                ours[no++] = (struct clearing_record){id, amount};
                theirs[nt++] = (struct clearing_record){id, amount};
                theirs[nt++] = (struct clearing_record){id, amount};
                expect[ne] = CLEARING_DIFF_DUPLICATE;
                expect_id[ne++] = id;
            } else {
                ours[no++] = (struct clearing_record){id, amount};
                theirs[nt++] = (struct clearing_record){id, amount};
            }
        }
        /* Their record comes in another order than ours. */
        for (size_t i = nt; i > 1; i--) {
            size_t j = rng_next(&rs) % i;
            struct clearing_record t = theirs[i - 1];
            theirs[i - 1] = theirs[j];
            theirs[j] = t;
        }
        struct clearing_diff *d = NULL;
        size_t nd = 0;
        REQUIRE_EQ_INT(clearing_reconcile(ours, no, theirs, nt, &d, &nd), 0);
        CHECK_EQ_INT(nd, ne); /* nothing else reported */
        size_t found = 0;
        for (size_t i = 0; i < ne; i++) {
            for (size_t k = 0; k < nd; k++) {
                if (jz_id_eq(&d[k].id, &expect_id[i]) && d[k].cls == expect[i]) {
                    found++;
                    break;
                }
            }
        }
        CHECK_EQ_INT(found, ne);
        for (size_t k = 1; k < nd; k++) {
            CHECK(memcmp(d[k - 1].id.b, d[k].id.b, 16) <= 0); /* in id order */
        }
        free(d);
    }
}

TEST(clearing_reconcile_compares_the_first_of_duplicates_and_counts_each_extra)
{
    struct clearing_record ours[] = {{rid(1), 100}, {rid(2), -50}};
    struct clearing_record theirs[] = {
        {rid(2), -50}, {rid(1), 100}, {rid(1), 100}, {rid(1), 7}, {rid(3), 9}};
    struct clearing_diff *d = NULL;
    size_t nd = 0;
    REQUIRE_EQ_INT(clearing_reconcile(ours, 2, theirs, 5, &d, &nd), 0);
    REQUIRE_EQ_INT(nd, 3);
    int dup = 0;
    int here = 0;
    for (size_t k = 0; k < nd; k++) {
        dup += d[k].cls == CLEARING_DIFF_DUPLICATE && jz_id_eq(&d[k].id, &ours[0].id) &&
               d[k].side == 2;
        here += d[k].cls == CLEARING_DIFF_MISSING_HERE && d[k].theirs == 9;
    }
    CHECK_EQ_INT(dup, 2);
    CHECK_EQ_INT(here, 1);
    free(d);
    CHECK_EQ_INT(clearing_reconcile(ours, 0, theirs, 0, &d, &nd), 0);
    CHECK_EQ_INT(nd, 0);
    free(d);
    CHECK_EQ_STR(clearing_diff_name(CLEARING_DIFF_MISSING_THERE), "missing_there");
}
