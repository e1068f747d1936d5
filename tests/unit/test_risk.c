/*
 * test_risk.c: the rule file (risk.h): every kind of condition at its boundary, first match
 * wins, the cost bound, and bad files refused with their line and reason.
 */
#include "risk.h"
#include "test.h"

/* 2025-01-01 00:00 UTC+8, a Wednesday. */
#define MIDNIGHT_UTC8 1735660800000LL
#define HOUR_MS 3600000LL

static risk_rules *parse(const char *text)
{
    risk_rules *r = NULL;
    struct risk_error e;
    if (risk_rules_parse(text, strlen(text), &r, &e) != 0) {
        fprintf(stderr, "  line %d: %s\n", e.line, e.reason);
        return NULL;
    }
    return r;
}

static void base_facts(struct risk_facts *f)
{
    memset(f, 0, sizeof *f);
    memset(f->debit.b, 0xaa, 16);
    memset(f->credit.b, 0xbb, 16);
    f->amount = 1000;
    f->kind = LEDGER_KIND_P2P;
    f->actor = "opa";
    f->now_ms = MIDNIGHT_UTC8 + 12 * HOUR_MS;
    f->payer_tier = 4;
    f->payer_kind = LEDGER_WALLET_PERSONAL;
    f->payee_tier = 2;
    f->payee_kind = LEDGER_WALLET_MERCHANT;
    f->payee_mcc = 5411;
    for (int i = 0; i < RISK_WINDOWS_MAX; i++) {
        f->velocity_count[i] = 1;
        f->velocity_sum[i] = f->amount;
    }
}

static int action_of(const risk_rules *r, const struct risk_facts *f, char *rule)
{
    struct risk_verdict v;
    risk_rules_evaluate(r, f, &v);
    if (rule) {
        strcpy(rule, v.rule_id);
    }
    return v.action;
}

TEST(risk_amount_boundary)
{
    risk_rules *r = parse("rule big deny when amount > 200000\n"
                          "rule mid review when amount >= 100000 and amount <= 150000\n");
    REQUIRE(r != NULL);
    struct risk_facts f;
    base_facts(&f);
    char rule[40];
    f.amount = 200000;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    f.amount = 200001;
    CHECK_EQ_INT(action_of(r, &f, rule), RISK_DENY);
    CHECK_EQ_STR(rule, "big");
    f.amount = 99999;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    f.amount = 100000;
    CHECK_EQ_INT(action_of(r, &f, rule), RISK_REVIEW);
    CHECK_EQ_STR(rule, "mid");
    f.amount = 150000;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_REVIEW);
    f.amount = 150001;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    risk_rules_free(r);
}

TEST(risk_tier_and_kind_boundaries)
{
    risk_rules *r = parse("rule t deny when tier >= 3 and kind in p2p,bill\n"
                          "rule pt review when payee_tier == 1\n"
                          "rule pk deny when payer_kind == corporate and kind != refund\n"
                          "rule m deny when payee_kind not in merchant and amount > 5000\n");
    REQUIRE(r != NULL);
    struct risk_facts f;
    base_facts(&f);
    f.payer_tier = 3;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_DENY);
    f.payer_tier = 2;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    f.payer_tier = 4;
    f.kind = LEDGER_KIND_PAYMENT;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    f.kind = LEDGER_KIND_BILL;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_DENY);
    /* An unknown tier (0) matches no comparison but != . */
    f.payer_tier = 0;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    f.payee_tier = 1;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_REVIEW);
    f.payee_tier = 2;
    f.payer_kind = LEDGER_WALLET_CORPORATE;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_DENY);
    f.kind = LEDGER_KIND_REFUND;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    f.payee_kind = LEDGER_WALLET_PERSONAL;
    f.amount = 5000;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    f.amount = 5001;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_DENY);
    risk_rules_free(r);
}

TEST(risk_lists_mcc_operator)
{
    char text[1024];
    snprintf(text, sizeof text,
             "list blocked %s %s\n"
             "list trusted %s\n"
             "rule ok allow when payee in trusted\n"
             "rule b deny when payee in blocked\n"
             "rule p review when payer in blocked\n"
             "rule g deny when mcc in 7995,5933 and operator == opa\n"
             "rule o review when operator not in opa,opb\n",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "01000000000000000000000000000000",
             "02000000000000000000000000000000");
    risk_rules *r = parse(text);
    REQUIRE(r != NULL);
    struct risk_facts f;
    base_facts(&f);
    char rule[40];
    CHECK_EQ_INT(action_of(r, &f, rule), RISK_DENY);
    CHECK_EQ_STR(rule, "b");
    memset(f.credit.b, 0, 16);
    f.credit.b[0] = 2;
    CHECK_EQ_INT(action_of(r, &f, rule), RISK_ALLOW); /* trusted: the allow rule comes first */
    CHECK_EQ_STR(rule, "ok");
    f.credit.b[0] = 3;
    CHECK_EQ_INT(action_of(r, &f, rule), RISK_ALLOW);
    CHECK_EQ_STR(rule, "");
    f.debit.b[0] = 1;
    memset(f.debit.b + 1, 0, 15);
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_REVIEW);
    memset(f.debit.b, 0xaa, 16);
    f.payee_mcc = 7995;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_DENY);
    f.actor = "opb";
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    f.actor = "opc";
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_REVIEW);
    f.actor = "opa";
    f.payee_mcc = 0; /* no category: "in" never matches */
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    risk_rules_free(r);
}

TEST(risk_hour_of_day_utc8_boundary)
{
    risk_rules *r = parse("rule night review when hour in 23-5 and amount >= 50000\n"
                          "rule noon deny when hour == 12 and amount > 900000\n");
    REQUIRE(r != NULL);
    struct risk_facts f;
    base_facts(&f);
    f.amount = 50000;
    f.now_ms = MIDNIGHT_UTC8 - 1; /* 23:59:59.999 */
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_REVIEW);
    f.now_ms = MIDNIGHT_UTC8 - HOUR_MS - 1; /* 22:59:59.999 */
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    f.now_ms = MIDNIGHT_UTC8 + 6 * HOUR_MS - 1; /* 05:59:59.999 */
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_REVIEW);
    f.now_ms = MIDNIGHT_UTC8 + 6 * HOUR_MS; /* 06:00 */
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    f.amount = 900001;
    f.now_ms = MIDNIGHT_UTC8 + 12 * HOUR_MS;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_DENY);
    f.now_ms = MIDNIGHT_UTC8 + 13 * HOUR_MS;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    CHECK_EQ_INT(risk_hour_utc8(MIDNIGHT_UTC8), 0);
    CHECK_EQ_INT(risk_hour_utc8(0), 8);
    risk_rules_free(r);
}

TEST(risk_velocity_and_device_boundaries)
{
    risk_rules *r = parse("rule burst deny when count(10m) > 5\n"
                          "rule volume review when sum(24h) >= 1000000\n"
                          "rule newdev review when new_device(24h) and amount > 10000\n");
    REQUIRE(r != NULL);
    int64_t w[RISK_WINDOWS_MAX];
    REQUIRE_EQ_INT(risk_rules_windows(r, w), 2);
    CHECK_EQ_INT(w[0], 600000);
    CHECK_EQ_INT(w[1], 86400000);
    CHECK(risk_rules_use(r, RISK_USE_VELOCITY) && risk_rules_use(r, RISK_USE_DEVICE));
    struct risk_facts f;
    base_facts(&f);
    f.velocity_count[0] = 5;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    f.velocity_count[0] = 6;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_DENY);
    f.velocity_count[0] = 1;
    f.velocity_sum[1] = 999999;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    f.velocity_sum[1] = 1000000;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_REVIEW);
    f.velocity_sum[1] = 0;
    f.amount = 10001;
    f.device_changed_ms = f.now_ms - 86400000; /* exactly 24 h ago: no longer new */
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    f.device_changed_ms = f.now_ms - 86400000 + 1;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_REVIEW);
    f.amount = 10000;
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    risk_rules_free(r);
}

TEST(risk_set_lines_and_defaults)
{
    risk_rules *r = parse("# comments and blank lines\n\n"
                          "set review_hold 2h\n"
                          "set large_value_fen 2000000   # 20,000 CNY\n"
                          "set fan_in.count 30\n");
    REQUIRE(r != NULL);
    const struct risk_params *p = risk_rules_params(r);
    CHECK_EQ_INT(p->review_hold_ms, 7200000);
    CHECK_EQ_INT(p->large_value_fen, 2000000);
    CHECK_EQ_INT(p->aml.fan_in_count, 30);
    CHECK_EQ_INT(p->aml.fan_out_count, 15); /* default */
    CHECK_EQ_INT(risk_rules_count(r), 0);
    struct risk_facts f;
    base_facts(&f);
    CHECK_EQ_INT(action_of(r, &f, NULL), RISK_ALLOW);
    risk_rules_free(r);
}

/* The evaluation bound: the worst file (every rule full of conditions that hold but the
 * last) costs RISK_RULES_MAX * RISK_CONDS_MAX steps, never more. */
TEST(risk_evaluation_cost_is_bounded)
{
    size_t cap = 256 * 200;
    char *text = malloc(cap);
    REQUIRE(text != NULL);
    size_t n = 0;
    for (int i = 0; i < RISK_RULES_MAX; i++) {
        n += (size_t)snprintf(text + n, cap - n,
                              "rule r%d deny when amount >= 1 and tier >= 1 and kind in p2p and "
                              "hour in 0-23 and count(1h) >= 1 and sum(1h) >= 1 and "
                              "payer_kind == personal and mcc == 1\n", i);
    }
    risk_rules *r = parse(text);
    free(text);
    REQUIRE(r != NULL);
    struct risk_facts f;
    base_facts(&f);
    struct risk_verdict v;
    risk_rules_evaluate(r, &f, &v);
    CHECK_EQ_INT(v.action, RISK_ALLOW);
    CHECK_EQ_INT(v.steps, RISK_RULES_MAX * RISK_CONDS_MAX);
    risk_rules_free(r);
}

struct bad_case {
    const char *text;
    int line;
    const char *reason; /* a substring of the reason */
};

TEST(risk_bad_files_name_line_and_reason)
{
    static const struct bad_case cases[] = {
        {"rule a deny when amout > 5\n", 1, "unknown condition \"amout\""},
        {"# ok\nrule a deny when amount > 5\nrule a deny\n", 3, "defined twice"},
        {"rule a block\n", 1, "allow, deny or review"},
        {"rule a deny when tier >= 5\n", 1, "whole number up to 4"},
        {"rule a deny when amount > 9000000000000001\n", 1, "up to 9000000000000000"},
        {"rule a deny when kind in p2p,teleport\n", 1, "unknown transfer kind"},
        {"rule a deny when payer_kind == alien\n", 1, "unknown wallet kind"},
        {"rule a deny when hour in 22-24\n", 1, "hours are 0-23"},
        {"rule a deny when count(5s) > 3\n", 1, "from 1m to 30d"},
        {"rule a deny when count(1h) 3\n", 1, "comparison and a number"},
        {"rule a deny when payee in nosuch\n", 1, "list \"nosuch\" is not defined"},
        {"list l 0123\n", 1, "not a wallet id"},
        {"rule a deny when amount > 1 or tier == 4\n", 1, "joined by \"and\""},
        {"rule a deny amount > 1\n", 1, "expected \"when\""},
        {"rule a deny when\n", 1, "needs a condition"},
        {"set review_hold 31d\n", 1, "review_hold must be a duration"},
        {"set nonsense 1\n", 1, "unknown setting"},
        {"allow everything\n", 1, "starts with rule, list or set"},
        {"rule a deny when count(1m) > 1\nrule b deny when count(2m) > 1\n"
         "rule c deny when count(3m) > 1\nrule d deny when count(4m) > 1\n"
         "rule e deny when count(5m) > 1\n", 5, "distinct velocity windows"},
        {"rule a deny when mcc in 0\n", 1, "1-9999"},
        {"rule a deny when operator == ICBC\n", 1, "[a-z0-9_]"},
        {"rule a deny when payer == x\n", 1, "in LIST"},
    };
    for (size_t i = 0; i < JZ_ARRAY_LEN(cases); i++) {
        risk_rules *r = NULL;
        struct risk_error e;
        int rc = risk_rules_parse(cases[i].text, strlen(cases[i].text), &r, &e);
        CHECK_EQ_INT(rc, -1);
        CHECK(r == NULL);
        CHECK_EQ_INT(e.line, cases[i].line);
        if (!strstr(e.reason, cases[i].reason)) {
            test_fail(__FILE__, __LINE__, "case %zu: reason \"%s\" lacks \"%s\"", i, e.reason,
                      cases[i].reason);
        }
    }
    /* Too many rules, and a NUL byte. */
    size_t cap = 300 * 40;
    char *text = malloc(cap);
    REQUIRE(text != NULL);
    size_t n = 0;
    for (int i = 0; i <= RISK_RULES_MAX; i++) {
        n += (size_t)snprintf(text + n, cap - n, "rule r%d deny\n", i);
    }
    risk_rules *r = NULL;
    struct risk_error e;
    CHECK_EQ_INT(risk_rules_parse(text, n, &r, &e), -1);
    CHECK_EQ_INT(e.line, RISK_RULES_MAX + 1);
    CHECK(strstr(e.reason, "more than 256 rules") != NULL);
    free(text);
    CHECK_EQ_INT(risk_rules_parse("rule a\0 deny\n", 13, &r, &e), -1);
    CHECK(strstr(e.reason, "NUL") != NULL);
}
