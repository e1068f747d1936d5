/*
 * test_token.c: the token vault (token.c with its SQLite store) driven directly: the number
 * format, Luhn and last four, expiry, uniqueness over a bulk of tokenisations, domain checks
 * both ways, the status lifecycle, journalling (and what a journal failure leaves), bursts and
 * their alerts, the KEK's file checks, and key rotation: interleaved with serving, on a
 * background thread, and interrupted by kill -9 in a forked child, after which every token
 * still detokenises and no card number is in clear in the directory (the canary scan).
 *
 * Options: --token-count N (uniqueness test, default 100000; 1000000 is the figure).
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "test.h"
#include "token.h"
#include "token_canary.h"

/* 2026-06-15T00:00:00Z, and the ends of June and December 2026 in UTC+8. */
#define NOW 1781481600000LL
#define END_2606 1782835200000LL
#define END_2612 1798732800000LL

/* ---- Helpers ---- */

/* A journal that keeps what it is given, and can be told to fail. */
struct jlog {
    int n;
    bool fail;
    struct token_event ev[64];
};

static int jlog_fn(void *ctx, const struct token_event *ev)
{
    struct jlog *j = ctx;
    if (j->fail) {
        return -1;
    }
    if (j->n < (int)JZ_ARRAY_LEN(j->ev)) {
        j->ev[j->n] = *ev;
    }
    j->n++;
    return 0;
}

static int jlog_count(const struct jlog *j, uint8_t kind)
{
    int c = 0;
    for (int i = 0; i < j->n && i < (int)JZ_ARRAY_LEN(j->ev); i++) {
        c += j->ev[i].kind == kind;
    }
    return c;
}

static token_vault *open_vault_cfg(const char *dir, const struct token_config *cfg)
{
    token_vault *v = NULL;
    char err[512];
    mkdir(dir, 0700);
    if (token_vault_open(dir, cfg, &v, err, sizeof err) != 0) {
        fprintf(stderr, "  token_vault_open: %s\n", err);
        return NULL;
    }
    return v;
}

static token_vault *open_vault(const char *dir)
{
    struct token_config cfg;
    token_config_default(&cfg);
    return open_vault_cfg(dir, &cfg);
}

static jz_id wallet_n(uint8_t n)
{
    jz_id w;
    memset(&w, 0, sizeof w);
    w.b[0] = 0xaa;
    w.b[15] = n;
    return w;
}

static struct token_request request(const char *pan, const char *expiry, uint8_t wallet,
                                    const char *issuer, const char *requestor,
                                    const char *channel)
{
    struct token_request rq;
    memset(&rq, 0, sizeof rq);
    rq.pan = pan;
    rq.expiry = expiry;
    rq.wallet = wallet_n(wallet);
    rq.issuer = issuer;
    snprintf(rq.domain.requestor, sizeof rq.domain.requestor, "%s", requestor);
    snprintf(rq.domain.channel, sizeof rq.domain.channel, "%s", channel);
    return rq;
}

/* Tokenises; returns the code. */
static int tok(token_vault *v, const struct token_request *rq, int64_t now, struct jlog *j,
               struct token_info *out, bool *created)
{
    const char *field = "";
    bool c = false;
    struct token_info info;
    int rc = token_tokenize(v, rq, now, j ? jlog_fn : NULL, j, &info, &c, &field);
    if (out) {
        *out = info;
    }
    if (created) {
        *created = c;
    }
    return rc;
}

static int detok(token_vault *v, const char *token, const char *caller, const char *requestor,
                 const char *channel, int64_t now, struct jlog *j, char pan[20])
{
    struct token_domain d;
    snprintf(d.requestor, sizeof d.requestor, "%s", requestor);
    snprintf(d.channel, sizeof d.channel, "%s", channel);
    return token_detokenize(v, token, caller, &d, now, j ? jlog_fn : NULL, j, pan);
}

/* ---- Pure helpers ---- */

TEST(token_luhn_and_card_numbers)
{
    CHECK(token_luhn_valid("79927398713", 11));
    CHECK(!token_luhn_valid("79927398710", 11));
    CHECK(token_luhn_valid("4111111111111111", 16));
    CHECK(!token_luhn_valid("4111111111111112", 16));
    CHECK(!token_luhn_valid("", 0));
    CHECK(!token_luhn_valid("41a1", 4));
    CHECK_EQ_INT(token_pan_check("4111111111111111"), JZ_OK);
    CHECK_EQ_INT(token_pan_check("6011000990139424"), JZ_OK);
    CHECK_EQ_INT(token_pan_check("4222222222222"), JZ_OK);          /* 13 digits */
    char pan[20];
    canary_pan(1, 19, "4321", pan);
    CHECK_EQ_INT(token_pan_check(pan), JZ_OK);
    canary_pan(7, 13, "0001", pan);
    CHECK_EQ_INT(token_pan_check(pan), JZ_OK);
    CHECK_EQ_INT(token_pan_check("422222222222"), JZ_INVALID_PAN);     /* 12 digits */
    CHECK_EQ_INT(token_pan_check("41111111111111111111"), JZ_INVALID_PAN); /* 20 digits */
    CHECK_EQ_INT(token_pan_check("4111111111111112"), JZ_INVALID_PAN);  /* Luhn */
    CHECK_EQ_INT(token_pan_check("4111 1111 1111 1111"), JZ_INVALID_PAN);
    CHECK_EQ_INT(token_pan_check("411111111111111a"), JZ_INVALID_PAN);
    CHECK_EQ_INT(token_pan_check(""), JZ_INVALID_PAN);
    CHECK_EQ_INT(token_pan_check(NULL), JZ_INVALID_PAN);
}

TEST(token_expiry_parsing)
{
    int64_t at = 0;
    CHECK_EQ_INT(token_expiry_parse("2612", NOW, &at), JZ_OK);
    CHECK_EQ_INT(at, END_2612);
    CHECK_EQ_INT(token_expiry_parse("2606", NOW, &at), JZ_OK); /* good through June */
    CHECK_EQ_INT(at, END_2606);
    CHECK_EQ_INT(token_expiry_parse("2606", END_2606, &at), JZ_INVALID_EXPIRY);
    CHECK_EQ_INT(token_expiry_parse("2605", NOW, &at), JZ_INVALID_EXPIRY); /* over */
    CHECK_EQ_INT(token_expiry_parse("2613", NOW, &at), JZ_INVALID_EXPIRY);
    CHECK_EQ_INT(token_expiry_parse("2600", NOW, &at), JZ_INVALID_EXPIRY);
    CHECK_EQ_INT(token_expiry_parse("4512", NOW, &at), JZ_OK);             /* 19.5 years */
    CHECK_EQ_INT(token_expiry_parse("4712", NOW, &at), JZ_INVALID_EXPIRY); /* 21 years */
    CHECK_EQ_INT(token_expiry_parse("26a1", NOW, &at), JZ_INVALID_EXPIRY);
    CHECK_EQ_INT(token_expiry_parse("261", NOW, &at), JZ_INVALID_EXPIRY);
    CHECK_EQ_INT(token_expiry_parse("12/26", NOW, &at), JZ_INVALID_EXPIRY);
    CHECK_EQ_INT(token_expiry_parse(NULL, NOW, &at), JZ_INVALID_EXPIRY);
}

TEST(token_format_luhn_last4_prefix)
{
    struct token_config cfg;
    token_config_default(&cfg);
    int bad = 0;
    for (int len = TOKEN_PAN_MIN; len <= TOKEN_PAN_MAX; len++) {
        for (uint64_t i = 0; i < 500; i++) {
            char pan[20];
            char t[TOKEN_LEN_MAX + 1];
            canary_pan(i, len, "9876", pan);
            if (token_generate(&cfg, pan, t) != 0) {
                bad++;
                continue;
            }
            size_t n = strlen(t);
            size_t want = (size_t)len > cfg.length_min ? (size_t)len : cfg.length_min;
            bad += n != want || strncmp(t, cfg.prefix, strlen(cfg.prefix)) != 0 ||
                   strcmp(t + n - 4, "9876") != 0 || !token_luhn_valid(t, n) ||
                   strstr(t, pan) != NULL || strspn(t, "0123456789") != n;
        }
    }
    CHECK_EQ_INT(bad, 0);
    /* A card in the token range itself: the token is never that number. */
    snprintf(cfg.prefix, sizeof cfg.prefix, "4");
    cfg.length_min = 13;
    char t[TOKEN_LEN_MAX + 1];
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ_INT(token_generate(&cfg, "4000000000002", t), 0);
        bad += strcmp(t, "4000000000002") == 0;
    }
    CHECK_EQ_INT(bad, 0);
    /* Configuration bounds. */
    char err[200];
    token_config_default(&cfg);
    CHECK_EQ_INT(token_config_check(&cfg, err, sizeof err), 0);
    snprintf(cfg.prefix, sizeof cfg.prefix, "99000x");
    CHECK(token_config_check(&cfg, err, sizeof err) != 0);
    token_config_default(&cfg);
    snprintf(cfg.prefix, sizeof cfg.prefix, "99000099");
    cfg.length_min = 13; /* 8 + 4 + 1 leaves no random digit */
    CHECK(token_config_check(&cfg, err, sizeof err) != 0);
    jz_id a, b;
    token_id_of("9900001234561234", &a);
    token_id_of("9900001234561235", &b);
    CHECK(!jz_id_eq(&a, &b) && !jz_id_is_zero(&a));
}

TEST(token_config_file)
{
    char dir[600];
    char path[700];
    char err[512];
    struct token_config cfg;
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    token_config_default(&cfg);
    CHECK_EQ_INT(token_config_read(dir, &cfg, err, sizeof err), 0); /* no file: defaults */
    CHECK_EQ_STR(cfg.prefix, "990000");
    snprintf(path, sizeof path, "%s/tokens.conf", dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("# tokens\ntoken_prefix = 88\ntoken_length_min = 19\ndetokenize_burst = 3\n"
          "detokenize_window_ms = 500\nrotate_batch = 7\nrotate_pause_ms = 0\n", f);
    fclose(f);
    CHECK_EQ_INT(token_config_read(dir, &cfg, err, sizeof err), 0);
    CHECK_EQ_STR(cfg.prefix, "88");
    CHECK_EQ_INT(cfg.length_min, 19);
    CHECK_EQ_INT(cfg.burst_count, 3);
    CHECK_EQ_INT(cfg.rotate_batch, 7);
    f = fopen(path, "a");
    REQUIRE(f != NULL);
    fputs("detokenize_bursts = 3\n", f);
    fclose(f);
    CHECK(token_config_read(dir, &cfg, err, sizeof err) != 0);
    CHECK(strstr(err, ":8:") != NULL);
}

/* ---- The vault ---- */

TEST(token_tokenize_same_card_same_domain)
{
    token_vault *v = open_vault(test_tmpdir());
    REQUIRE(v != NULL);
    struct jlog j = {0};
    struct token_info a, b;
    bool created = false;
    struct token_request rq = request("4111111111111111", "2612", 1, "opa", "opb", "app");
    REQUIRE_EQ_INT(tok(v, &rq, NOW, &j, &a, &created), JZ_OK);
    CHECK(created);
    CHECK_EQ_INT(strlen(a.token), 16);
    CHECK_EQ_STR(a.last4, "1111");
    CHECK_EQ_STR(a.expiry, "2612");
    CHECK_EQ_INT(a.status, TOKEN_ACTIVE);
    CHECK(strcmp(a.token, "4111111111111111") != 0 && token_luhn_valid(a.token, 16));
    CHECK_EQ_INT(jlog_count(&j, TOKEN_EVENT_TOKENIZE), 1);
    /* Again: the same token, nothing journalled. */
    REQUIRE_EQ_INT(tok(v, &rq, NOW + 5, &j, &b, &created), JZ_OK);
    CHECK(!created);
    CHECK_EQ_STR(b.token, a.token);
    CHECK_EQ_INT(j.n, 1);
    /* Same card and domain, another wallet or expiry: a conflict naming the field. */
    const char *field = "";
    struct token_request other = rq;
    other.wallet = wallet_n(2);
    CHECK_EQ_INT(token_tokenize(v, &other, NOW, NULL, NULL, &b, &created, &field),
                 JZ_ID_CONFLICT);
    CHECK_EQ_STR(field, "wallet");
    other = request("4111111111111111", "2711", 1, "opa", "opb", "app");
    CHECK_EQ_INT(token_tokenize(v, &other, NOW, NULL, NULL, &b, &created, &field),
                 JZ_ID_CONFLICT);
    CHECK_EQ_STR(field, "expiry");
    /* Another channel, requestor or issuer: another token. */
    const char *domains[][3] = {{"opa", "opb", "web"}, {"opa", "opc", "app"}, {"opc", "opb", "app"}};
    for (size_t i = 0; i < 3; i++) {
        other = request("4111111111111111", "2612", 1, domains[i][0], domains[i][1], domains[i][2]);
        REQUIRE_EQ_INT(tok(v, &other, NOW, NULL, &b, &created), JZ_OK);
        CHECK(created && strcmp(b.token, a.token) != 0 && strcmp(b.last4, "1111") == 0);
    }
    /* One of the vault's tokens is not a card number. */
    other = request(a.token, "2612", 1, "opa", "opb", "app");
    CHECK_EQ_INT(token_tokenize(v, &other, NOW, NULL, NULL, &b, &created, &field),
                 JZ_INVALID_PAN);
    CHECK_EQ_STR(field, "pan");
    struct token_key_status ks;
    REQUIRE_EQ_INT(token_key_status(v, &ks), 0);
    CHECK_EQ_INT(ks.tokens, 4);
    token_vault_close(v);
}

TEST(token_bad_input_changes_nothing)
{
    token_vault *v = open_vault(test_tmpdir());
    REQUIRE(v != NULL);
    struct jlog j = {0};
    const char *field = "";
    bool created = false;
    struct token_info info;
    static const struct {
        const char *pan, *expiry, *issuer, *requestor, *channel;
        int code;
        const char *field;
    } cases[] = {
        {"4111111111111112", "2612", "opa", "opb", "app", JZ_INVALID_PAN, "pan"},
        {"411111111111", "2612", "opa", "opb", "app", JZ_INVALID_PAN, "pan"},
        {"41111111111111111111", "2612", "opa", "opb", "app", JZ_INVALID_PAN, "pan"},
        {"4111-1111-1111-1111", "2612", "opa", "opb", "app", JZ_INVALID_PAN, "pan"},
        {"4111111111111111", "2605", "opa", "opb", "app", JZ_INVALID_EXPIRY, "expiry"},
        {"4111111111111111", "2613", "opa", "opb", "app", JZ_INVALID_EXPIRY, "expiry"},
        {"4111111111111111", "1226", "opa", "opb", "app", JZ_INVALID_EXPIRY, "expiry"},
        {"4111111111111111", "2612", "OPA", "opb", "app", JZ_INVALID_FIELD, "issuer"},
        {"4111111111111111", "2612", "opa", "", "app", JZ_INVALID_FIELD, "domain.requestor"},
        {"4111111111111111", "2612", "opa", "opb", "APP", JZ_INVALID_FIELD, "domain.channel"},
        {"4111111111111111", "2612", "opa", "opb", "", JZ_INVALID_FIELD, "domain.channel"},
    };
    for (size_t i = 0; i < JZ_ARRAY_LEN(cases); i++) {
        struct token_request rq = request(cases[i].pan, cases[i].expiry, 1, cases[i].issuer,
                                          cases[i].requestor, cases[i].channel);
        CHECK_EQ_INT(token_tokenize(v, &rq, NOW, jlog_fn, &j, &info, &created, &field),
                     cases[i].code);
        CHECK_EQ_STR(field, cases[i].field);
    }
    struct token_key_status ks;
    REQUIRE_EQ_INT(token_key_status(v, &ks), 0);
    CHECK_EQ_INT(ks.tokens, 0);
    CHECK_EQ_INT(j.n, 0);
    char pan[20] = "";
    CHECK_EQ_INT(detok(v, "9900001234561111", "opa", "opb", "app", NOW, &j, pan),
                 JZ_TOKEN_NOT_FOUND);
    CHECK_EQ_INT(detok(v, "99000012345611112222", "opa", "opb", "app", NOW, &j, pan),
                 JZ_TOKEN_NOT_FOUND);
    CHECK_EQ_INT(token_set_status(v, "9900001234561111", "opa", TOKEN_SUSPENDED, NOW, jlog_fn,
                                  &j, NULL),
                 JZ_TOKEN_NOT_FOUND);
    CHECK_EQ_INT(j.n, 0);
    CHECK_EQ_STR(pan, "");
    token_vault_close(v);
}

TEST(token_domain_checks_both_ways)
{
    token_vault *v = open_vault(test_tmpdir());
    REQUIRE(v != NULL);
    struct jlog j = {0};
    struct token_info t;
    char pan[20];
    struct token_request rq = request("6011000990139424", "2612", 1, "opa", "opb", "app");
    REQUIRE_EQ_INT(tok(v, &rq, NOW, NULL, &t, NULL), JZ_OK);
    /* Inside the domain: the requestor naming it, and the issuer. */
    memset(pan, 0, sizeof pan);
    CHECK_EQ_INT(detok(v, t.token, "opb", "opb", "app", NOW, &j, pan), JZ_OK);
    CHECK_EQ_STR(pan, "6011000990139424");
    memset(pan, 0, sizeof pan);
    CHECK_EQ_INT(detok(v, t.token, "opa", "opa", "branch", NOW, &j, pan), JZ_OK);
    CHECK_EQ_STR(pan, "6011000990139424");
    CHECK_EQ_INT(jlog_count(&j, TOKEN_EVENT_DETOKENIZE), 2);
    /* Outside: the requestor on another channel, anyone else claiming the domain, the
     * requestor naming another's domain, central. Each refused, journalled, PAN untouched. */
    static const char *const outside[][3] = {
        {"opb", "opb", "web"}, {"opc", "opb", "app"}, {"opb", "opc", "app"},
        {"central", "opb", "app"}, {"opc", "opc", "app"},
    };
    for (size_t i = 0; i < JZ_ARRAY_LEN(outside); i++) {
        memset(pan, 0, sizeof pan);
        CHECK_EQ_INT(detok(v, t.token, outside[i][0], outside[i][1], outside[i][2], NOW, &j, pan),
                     JZ_FORBIDDEN);
        CHECK_EQ_STR(pan, "");
    }
    CHECK_EQ_INT(jlog_count(&j, TOKEN_EVENT_REFUSED), (long long)JZ_ARRAY_LEN(outside));
    /* Every event names the token's id and who asked, and never the card number. */
    jz_id id;
    token_id_of(t.token, &id);
    int bad = 0;
    for (int i = 0; i < j.n; i++) {
        bad += !jz_id_eq(&j.ev[i].subject, &id) || strstr(j.ev[i].text, "by=") == NULL ||
               strstr(j.ev[i].text, "6011000990139424") != NULL ||
               strstr(j.ev[i].text, "9424") != NULL || !jz_id_eq(&j.ev[i].other, &rq.wallet);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(strstr(j.ev[j.n - 1].text, "by=opc") && strstr(j.ev[j.n - 1].text, "forbidden"));
    struct token_stats st;
    token_get_stats(v, &st);
    CHECK_EQ_INT(st.detokenized, 2);
    CHECK_EQ_INT(st.refused, JZ_ARRAY_LEN(outside));
    token_vault_close(v);
}

TEST(token_status_lifecycle)
{
    token_vault *v = open_vault(test_tmpdir());
    REQUIRE(v != NULL);
    struct jlog j = {0};
    struct token_info t, after;
    char pan[20];
    struct token_request rq = request("4222222222222", "2612", 3, "opa", "opb", "app");
    REQUIRE_EQ_INT(tok(v, &rq, NOW, NULL, &t, NULL), JZ_OK);
    CHECK_EQ_INT(strlen(t.token), 16); /* a 13-digit card gets a 16-digit token */
    /* Only the issuer changes the status. */
    CHECK_EQ_INT(token_set_status(v, t.token, "opb", TOKEN_SUSPENDED, NOW, jlog_fn, &j, NULL),
                 JZ_FORBIDDEN);
    CHECK_EQ_INT(j.n, 0);
    REQUIRE_EQ_INT(token_set_status(v, t.token, "opa", TOKEN_SUSPENDED, NOW, jlog_fn, &j,
                                    &after), JZ_OK);
    CHECK_EQ_INT(after.status, TOKEN_SUSPENDED);
    CHECK_EQ_INT(detok(v, t.token, "opb", "opb", "app", NOW, NULL, pan), JZ_TOKEN_SUSPENDED);
    CHECK_EQ_INT(token_check_payment(v, t.token, "opa", &rq.wallet, NOW), JZ_TOKEN_SUSPENDED);
    /* The same status again: OK, nothing journalled. */
    CHECK_EQ_INT(token_set_status(v, t.token, "opa", TOKEN_SUSPENDED, NOW, jlog_fn, &j, NULL),
                 JZ_OK);
    CHECK_EQ_INT(jlog_count(&j, TOKEN_EVENT_STATUS), 1);
    REQUIRE_EQ_INT(token_set_status(v, t.token, "opa", TOKEN_ACTIVE, NOW, jlog_fn, &j, &after),
                   JZ_OK);
    CHECK_EQ_INT(detok(v, t.token, "opb", "opb", "app", NOW, NULL, pan), JZ_OK);
    CHECK_EQ_STR(pan, "4222222222222");
    /* Deleted is final: the sealed record goes; no change afterwards but "deleted". */
    REQUIRE_EQ_INT(token_set_status(v, t.token, "opa", TOKEN_DELETED, NOW, jlog_fn, &j, &after),
                   JZ_OK);
    CHECK_EQ_INT(after.status, TOKEN_DELETED);
    CHECK_EQ_INT(after.key_version, 0);
    CHECK_EQ_INT(detok(v, t.token, "opa", "opa", "app", NOW, NULL, pan), JZ_TOKEN_DELETED);
    CHECK_EQ_INT(token_set_status(v, t.token, "opa", TOKEN_ACTIVE, NOW, jlog_fn, &j, NULL),
                 JZ_TOKEN_DELETED);
    CHECK_EQ_INT(token_set_status(v, t.token, "opa", TOKEN_SUSPENDED, NOW, jlog_fn, &j, NULL),
                 JZ_TOKEN_DELETED);
    CHECK_EQ_INT(token_set_status(v, t.token, "opa", TOKEN_DELETED, NOW, jlog_fn, &j, NULL),
                 JZ_OK);
    CHECK_EQ_INT(token_check_payment(v, t.token, "opa", &rq.wallet, NOW), JZ_TOKEN_DELETED);
    CHECK_EQ_INT(jlog_count(&j, TOKEN_EVENT_STATUS), 3);
    CHECK(strstr(j.ev[j.n - 1].text, "from=active to=deleted") != NULL);
    /* The card can be tokenised again in that domain: a new token. */
    struct token_info again;
    bool created = false;
    REQUIRE_EQ_INT(tok(v, &rq, NOW, NULL, &again, &created), JZ_OK);
    CHECK(created && strcmp(again.token, t.token) != 0);
    CHECK_EQ_INT(token_set_status(v, again.token, "opa", 9, NOW, NULL, NULL, NULL),
                 JZ_INVALID_FIELD);
    token_vault_close(v);
}

TEST(token_expiry_and_payments)
{
    token_vault *v = open_vault(test_tmpdir());
    REQUIRE(v != NULL);
    struct token_info t;
    char pan[20];
    struct token_request rq = request("4111111111111111", "2606", 4, "opa", "opb", "app");
    REQUIRE_EQ_INT(tok(v, &rq, NOW, NULL, &t, NULL), JZ_OK);
    CHECK_EQ_INT(t.expires_at, END_2606);
    CHECK(!t.expired);
    jz_id other = wallet_n(5);
    CHECK_EQ_INT(token_check_payment(v, t.token, "opa", &rq.wallet, NOW), JZ_OK);
    CHECK_EQ_INT(token_check_payment(v, t.token, "opa", &other, NOW), JZ_TOKEN_WALLET_MISMATCH);
    CHECK_EQ_INT(token_check_payment(v, t.token, "opb", &rq.wallet, NOW), JZ_FORBIDDEN);
    CHECK_EQ_INT(token_check_payment(v, "9900000000001111", "opa", &rq.wallet, NOW),
                 JZ_TOKEN_NOT_FOUND);
    /* The last instant of June is fine; the first of July is not. */
    CHECK_EQ_INT(detok(v, t.token, "opb", "opb", "app", END_2606 - 1, NULL, pan), JZ_OK);
    CHECK_EQ_INT(detok(v, t.token, "opb", "opb", "app", END_2606, NULL, pan), JZ_TOKEN_EXPIRED);
    CHECK_EQ_INT(token_check_payment(v, t.token, "opa", &rq.wallet, END_2606), JZ_TOKEN_EXPIRED);
    struct token_info later;
    REQUIRE_EQ_INT(token_get(v, t.token, END_2606, &later), JZ_OK);
    CHECK(later.expired);
    /* An expired token may be suspended or deleted, not resumed. */
    CHECK_EQ_INT(token_set_status(v, t.token, "opa", TOKEN_SUSPENDED, END_2606, NULL, NULL,
                                  NULL), JZ_OK);
    CHECK_EQ_INT(token_set_status(v, t.token, "opa", TOKEN_ACTIVE, END_2606, NULL, NULL, NULL),
                 JZ_TOKEN_EXPIRED);
    CHECK_EQ_INT(token_set_status(v, t.token, "opa", TOKEN_DELETED, END_2606, NULL, NULL, NULL),
                 JZ_OK);
    token_vault_close(v);
}

TEST(token_journal_failure_leaves_nothing)
{
    token_vault *v = open_vault(test_tmpdir());
    REQUIRE(v != NULL);
    struct jlog fail = {.fail = true};
    struct token_info t;
    char pan[20] = "";
    struct token_request rq = request("4111111111111111", "2612", 1, "opa", "opb", "app");
    CHECK_EQ_INT(tok(v, &rq, NOW, &fail, &t, NULL), JZ_UNAVAILABLE);
    struct token_key_status ks;
    REQUIRE_EQ_INT(token_key_status(v, &ks), 0);
    CHECK_EQ_INT(ks.tokens, 0);
    REQUIRE_EQ_INT(tok(v, &rq, NOW, NULL, &t, NULL), JZ_OK);
    /* No card number without a journal record; no status change either. */
    CHECK_EQ_INT(detok(v, t.token, "opb", "opb", "app", NOW, &fail, pan), JZ_UNAVAILABLE);
    CHECK_EQ_STR(pan, "");
    CHECK_EQ_INT(token_set_status(v, t.token, "opa", TOKEN_SUSPENDED, NOW, jlog_fn, &fail,
                                  NULL), JZ_UNAVAILABLE);
    struct token_info now;
    REQUIRE_EQ_INT(token_get(v, t.token, NOW, &now), JZ_OK);
    CHECK_EQ_INT(now.status, TOKEN_ACTIVE);
    token_vault_close(v);
}

TEST(token_burst_raises_one_alert)
{
    struct token_config cfg;
    token_config_default(&cfg);
    cfg.burst_count = 5;
    cfg.burst_window_ms = 1000;
    token_vault *v = open_vault_cfg(test_tmpdir(), &cfg);
    REQUIRE(v != NULL);
    struct jlog j = {0};
    struct token_info t1, t2;
    char pan[20];
    struct token_request a = request("4111111111111111", "2612", 1, "opa", "opc", "app");
    struct token_request b = request("6011000990139424", "2612", 2, "opb", "opc", "app");
    REQUIRE_EQ_INT(tok(v, &a, NOW, NULL, &t1, NULL), JZ_OK);
    REQUIRE_EQ_INT(tok(v, &b, NOW, NULL, &t2, NULL), JZ_OK);
    /* Spread out: five in 4 s, never five within a second. */
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(detok(v, t1.token, "opc", "opc", "app", NOW + i * 1000, &j, pan), JZ_OK);
    }
    CHECK_EQ_INT(jlog_count(&j, TOKEN_EVENT_ALERT), 0);
    /* A burst: five within 400 ms, tokens of two issuers (one refused attempt counts too). */
    int64_t t0 = NOW + 10000;
    CHECK_EQ_INT(detok(v, t1.token, "opc", "opc", "app", t0, &j, pan), JZ_OK);
    CHECK_EQ_INT(detok(v, t2.token, "opc", "opc", "app", t0 + 100, &j, pan), JZ_OK);
    CHECK_EQ_INT(detok(v, t2.token, "opc", "opc", "web", t0 + 200, &j, pan), JZ_FORBIDDEN);
    CHECK_EQ_INT(detok(v, t1.token, "opc", "opc", "app", t0 + 300, &j, pan), JZ_OK);
    CHECK_EQ_INT(jlog_count(&j, TOKEN_EVENT_ALERT), 0);
    CHECK_EQ_INT(detok(v, t1.token, "opc", "opc", "app", t0 + 400, &j, pan), JZ_OK);
    CHECK_EQ_INT(jlog_count(&j, TOKEN_EVENT_ALERT), 1);
    /* The same burst going on: no second alert within the window. */
    CHECK_EQ_INT(detok(v, t1.token, "opc", "opc", "app", t0 + 500, &j, pan), JZ_OK);
    CHECK_EQ_INT(jlog_count(&j, TOKEN_EVENT_ALERT), 1);
    /* Another requestor is counted on its own. */
    CHECK_EQ_INT(detok(v, t1.token, "opa", "opa", "app", t0 + 500, &j, pan), JZ_OK);
    struct vault_alert_row al[4];
    size_t n = 0;
    REQUIRE_EQ_INT(token_alerts_list(v, NULL, 0, al, 4, &n), 0);
    REQUIRE_EQ_INT(n, 1);
    CHECK_EQ_STR(al[0].kind, "detokenize_burst");
    CHECK_EQ_STR(al[0].requestor, "opc");
    CHECK_EQ_INT(al[0].count, 5);
    CHECK_EQ_INT(al[0].first_at, t0);
    CHECK_EQ_INT(al[0].last_at, t0 + 400);
    CHECK(strstr(al[0].issuers, "opa") && strstr(al[0].issuers, "opb"));
    /* Visible to the issuers named, not to others. */
    CHECK_EQ_INT(token_alerts_list(v, "opb", 0, al, 4, &n), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(token_alerts_list(v, "opc", 0, al, 4, &n), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(token_alerts_list(v, "op", 0, al, 4, &n), 0);
    CHECK_EQ_INT(n, 0);
    struct token_stats st;
    token_get_stats(v, &st);
    CHECK_EQ_INT(st.alerts, 1);
    token_vault_close(v);
    /* Alerts outlive a restart (the burst counters do not need to). */
    v = open_vault_cfg(test_tmpdir(), &cfg);
    REQUIRE(v != NULL);
    CHECK_EQ_INT(token_alerts_list(v, "opa", 0, al, 4, &n), 0);
    CHECK_EQ_INT(n, 1);
    token_vault_close(v);
}

/* Reads the whole file at path into buf (cap bytes); returns its length or -1. */
static long slurp(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return -1;
    }
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return (long)n;
}

TEST(token_kek_is_kept_apart_and_checked)
{
    char dir[600], kek[800], db[700];
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    snprintf(kek, sizeof kek, "%s/vault.kek", dir);
    snprintf(db, sizeof db, "%s/vault.db", dir);
    token_vault *v = open_vault(dir);
    REQUIRE(v != NULL);
    struct token_info t;
    struct token_request rq = request("4111111111111111", "2612", 1, "opa", "opb", "app");
    REQUIRE_EQ_INT(tok(v, &rq, NOW, NULL, &t, NULL), JZ_OK);
    token_vault_close(v);
    struct stat st;
    REQUIRE(stat(kek, &st) == 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    CHECK_EQ_INT(st.st_size, 48);
    /* The KEK's bytes are nowhere in the vault. */
    static uint8_t buf[1 << 20];
    uint8_t key[48];
    REQUIRE_EQ_INT(slurp(kek, key, sizeof key), 48);
    long n = slurp(db, buf, sizeof buf);
    REQUIRE(n > 0);
    CHECK(memmem(buf, (size_t)n, key, 16) == NULL && memmem(buf, (size_t)n, key + 16, 16) == NULL);
    char err[512];
    struct token_config cfg;
    token_config_default(&cfg);
    /* Readable by others: refused. */
    REQUIRE(chmod(kek, 0644) == 0);
    CHECK(token_vault_open(dir, &cfg, &v, err, sizeof err) != 0);
    CHECK(strstr(err, "chmod 600") != NULL);
    REQUIRE(chmod(kek, 0600) == 0);
    /* A wrong KEK: refused, never replaced. */
    uint8_t other[48];
    REQUIRE(crypto_random(other, sizeof other) == 0);
    FILE *f = fopen(kek, "wb");
    REQUIRE(f != NULL);
    fwrite(other, 1, sizeof other, f);
    fclose(f);
    CHECK(token_vault_open(dir, &cfg, &v, err, sizeof err) != 0);
    CHECK(strstr(err, "does not unwrap") != NULL);
    /* Missing: refused, not created afresh. */
    REQUIRE(unlink(kek) == 0);
    CHECK(token_vault_open(dir, &cfg, &v, err, sizeof err) != 0);
    CHECK(access(kek, F_OK) != 0);
    /* The right one back: everything is there. */
    f = fopen(kek, "wb");
    REQUIRE(f != NULL);
    fwrite(key, 1, sizeof key, f);
    fclose(f);
    REQUIRE(chmod(kek, 0600) == 0);
    v = open_vault(dir);
    REQUIRE(v != NULL);
    char pan[20];
    CHECK_EQ_INT(detok(v, t.token, "opa", "opb", "app", NOW, NULL, pan), JZ_OK);
    CHECK_EQ_STR(pan, "4111111111111111");
    token_vault_close(v);
    /* A KEK somewhere else (kek_file): the vault directory holds no key at all. */
    char dir2[700];
    snprintf(dir2, sizeof dir2, "%s/apart", dir);
    snprintf(cfg.kek_path, sizeof cfg.kek_path, "%s/elsewhere.kek", dir);
    v = open_vault_cfg(dir2, &cfg);
    REQUIRE(v != NULL);
    token_vault_close(v);
    snprintf(kek, sizeof kek, "%s/vault.kek", dir2);
    CHECK(access(kek, F_OK) != 0);
    snprintf(kek, sizeof kek, "%s/elsewhere.kek", dir);
    CHECK(access(kek, F_OK) == 0);
}

/* ---- Rotation ---- */

#define ROT_CARDS 300

static void make_cards(char (*pans)[20], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char last4[5];
        snprintf(last4, sizeof last4, "%04zu", (i * 37) % 10000);
        canary_pan(i, TOKEN_PAN_MIN + (int)(i % 7), last4, pans[i]);
    }
}

/* Tokenises every card (bulk); tokens[i] receives card i's token. */
static int tokenize_all(token_vault *v, char (*pans)[20], char (*tokens)[20], size_t n)
{
    if (token_bulk_begin(v) != 0) {
        return -1;
    }
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        struct token_info t;
        struct token_request rq = request(pans[i], "2612", (uint8_t)i, "opa", "opb", "app");
        bad += tok(v, &rq, NOW, NULL, &t, NULL) != JZ_OK;
        memcpy(tokens[i], t.token, 20);
    }
    return token_bulk_commit(v) == 0 && bad == 0 ? 0 : -1;
}

/* How many tokens do not give back their card (each is detokenised by its requestor). */
static int wrong_cards(token_vault *v, char (*pans)[20], char (*tokens)[20], size_t n)
{
    int wrong = 0;
    for (size_t i = 0; i < n; i++) {
        char pan[20] = "";
        wrong += detok(v, tokens[i], "opa", "opb", "app", NOW, NULL, pan) != JZ_OK ||
                 strcmp(pan, pans[i]) != 0;
    }
    return wrong;
}

TEST(token_rotation_while_serving)
{
    static char pans[ROT_CARDS + 20][20], tokens[ROT_CARDS + 20][20];
    struct token_config cfg;
    token_config_default(&cfg);
    token_vault *v = open_vault_cfg(test_tmpdir(), &cfg);
    REQUIRE(v != NULL);
    make_cards(pans, ROT_CARDS + 20);
    REQUIRE_EQ_INT(tokenize_all(v, pans, tokens, ROT_CARDS), 0);
    struct jlog j = {0};
    uint32_t version = 0;
    REQUIRE_EQ_INT(token_rotate_begin(v, NOW, jlog_fn, &j, &version), JZ_OK);
    CHECK_EQ_INT(version, 2);
    CHECK_EQ_INT(jlog_count(&j, TOKEN_EVENT_ROTATE_BEGIN), 1);
    CHECK_EQ_INT(token_rotate_begin(v, NOW, NULL, NULL, &version), JZ_ROTATION_IN_PROGRESS);
    /* Steps of 40, serving in between: new tokens are sealed under version 2 at once. */
    uint32_t moved = 0, total = 0;
    bool done = false;
    int steps = 0;
    for (size_t k = 0; !done && steps < 100; steps++) {
        REQUIRE_EQ_INT(token_rotate_step(v, 40, &moved, &done), 0);
        total += moved;
        for (int more = 0; more < 3 && k < 20; more++, k++) {
            struct token_info t;
            struct token_request rq = request(pans[ROT_CARDS + k], "2612", 9, "opa", "opb", "app");
            CHECK_EQ_INT(tok(v, &rq, NOW, NULL, &t, NULL), JZ_OK);
            CHECK_EQ_INT(t.key_version, 2);
            memcpy(tokens[ROT_CARDS + k], t.token, 20);
        }
        CHECK_EQ_INT(wrong_cards(v, pans, tokens, 20), 0);
    }
    CHECK(done);
    CHECK_EQ_INT(total, ROT_CARDS);
    struct token_key_status ks;
    REQUIRE_EQ_INT(token_key_status(v, &ks), 0);
    CHECK_EQ_INT(ks.nkeys, 1);
    CHECK_EQ_INT(ks.current, 2);
    CHECK_EQ_INT(ks.rows[0], ROT_CARDS + 20);
    CHECK_EQ_INT(wrong_cards(v, pans, tokens, ROT_CARDS + 20), 0);
    /* A second rotation on the background thread, detokenising meanwhile. */
    REQUIRE_EQ_INT(token_rotate_begin(v, NOW, NULL, NULL, &version), JZ_OK);
    REQUIRE_EQ_INT(token_rotation_start(v, jlog_fn, &j), 0);
    int wrong = 0;
    for (int round = 0; round < 2000 && token_rotation_running(v); round++) {
        wrong += wrong_cards(v, pans + round % ROT_CARDS, tokens + round % ROT_CARDS, 1);
    }
    for (int i = 0; i < 500 && token_rotation_running(v); i++) {
        usleep(10000);
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK(!token_rotation_running(v));
    CHECK_EQ_INT(jlog_count(&j, TOKEN_EVENT_ROTATE_DONE), 1);
    REQUIRE_EQ_INT(token_key_status(v, &ks), 0);
    CHECK_EQ_INT(ks.nkeys, 1);
    CHECK_EQ_INT(ks.current, 3);
    token_vault_close(v);
    v = open_vault_cfg(test_tmpdir(), &cfg);
    REQUIRE(v != NULL);
    CHECK_EQ_INT(wrong_cards(v, pans, tokens, ROT_CARDS + 20), 0);
    struct token_stats st;
    token_get_stats(v, &st);
    CHECK_EQ_INT(st.detokenized, ROT_CARDS + 20);
    token_vault_close(v);
}

/* The child: rotates in steps of 5 with no pause, telling the parent after each step. */
static void rotate_child(const char *dir, int fd)
{
    token_vault *v = open_vault(dir);
    uint32_t version = 0;
    if (!v || token_rotate_begin(v, NOW, NULL, NULL, &version) != JZ_OK) {
        _exit(3);
    }
    for (;;) {
        uint32_t moved = 0;
        bool done = false;
        if (token_rotate_step(v, 5, &moved, &done) != 0 || write(fd, "s", 1) != 1) {
            _exit(4);
        }
        if (done) {
            _exit(0);
        }
    }
}

TEST(token_rotation_survives_kill_9_and_canary_scan)
{
    static char pans[ROT_CARDS][20], tokens[ROT_CARDS][20];
    char dir[600];
    snprintf(dir, sizeof dir, "%s/vault", test_tmpdir());
    token_vault *v = open_vault(dir);
    REQUIRE(v != NULL);
    make_cards(pans, ROT_CARDS);
    REQUIRE_EQ_INT(tokenize_all(v, pans, tokens, ROT_CARDS), 0);
    token_vault_close(v);
    int p[2];
    REQUIRE(pipe(p) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        rotate_child(dir, p[1]);
    }
    close(p[1]);
    /* Let some steps commit, then kill it wherever it is. */
    char c;
    int steps = 0;
    while (steps < 12 && read(p[0], &c, 1) == 1) {
        steps++;
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    close(p[0]);
    CHECK(WIFSIGNALED(status));
    CHECK_EQ_INT(steps, 12);
    v = open_vault(dir);
    REQUIRE(v != NULL);
    struct token_key_status ks;
    REQUIRE_EQ_INT(token_key_status(v, &ks), 0);
    /* Caught in the middle: two keys, rows under each. */
    REQUIRE_EQ_INT(ks.nkeys, 2);
    CHECK(ks.rows[0] > 0 && ks.rows[1] > 0);
    CHECK_EQ_INT(ks.rows[0] + ks.rows[1], ROT_CARDS);
    printf("  killed after %d steps: %llu rows under v%u, %llu under v%u\n", steps,
           (unsigned long long)ks.rows[0], (unsigned)ks.versions[0],
           (unsigned long long)ks.rows[1], (unsigned)ks.versions[1]);
    CHECK_EQ_INT(wrong_cards(v, pans, tokens, ROT_CARDS), 0);
    /* The rotation resumes and finishes. */
    REQUIRE_EQ_INT(token_rotation_start(v, NULL, NULL), 0);
    for (int i = 0; i < 1000 && token_rotation_running(v); i++) {
        usleep(5000);
    }
    REQUIRE_EQ_INT(token_key_status(v, &ks), 0);
    CHECK_EQ_INT(ks.nkeys, 1);
    CHECK_EQ_INT(ks.current, 2);
    CHECK_EQ_INT(wrong_cards(v, pans, tokens, ROT_CARDS), 0);
    token_vault_close(v);
    long found = canary_scan(dir, NULL, 0, pans, ROT_CARDS);
    printf("  canary scan of %s: %ld card numbers found in clear\n", dir, found);
    CHECK_EQ_INT(found, 0);
    /* The scan does find a card number that is there. */
    char path[700];
    snprintf(path, sizeof path, "%s/planted", dir);
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL);
    uint8_t bcd[10] = {0};
    for (size_t i = 0; pans[3][i]; i++) {
        bcd[i / 2] |= (uint8_t)((pans[3][i] - '0') << (i % 2 ? 0 : 4));
    }
    fprintf(f, "x%sx", pans[1]);
    fwrite(bcd, 1, (strlen(pans[3]) + 1) / 2, f);
    for (size_t i = 0; pans[5][i]; i++) {
        fprintf(f, "%02X", (unsigned char)pans[5][i]);
    }
    fclose(f);
    CHECK(canary_scan(dir, NULL, 0, pans, ROT_CARDS) >= 3);
}

/* ---- Uniqueness ---- */

static int cmp_token(const void *a, const void *b)
{
    return strcmp(a, b);
}

TEST(token_uniqueness_bulk)
{
    long count = test_opt_long("--token-count", 100000);
    struct token_config cfg;
    token_config_default(&cfg);
    token_vault *v = open_vault_cfg(test_tmpdir(), &cfg);
    REQUIRE(v != NULL);
    char (*tokens)[20] = calloc((size_t)count, sizeof *tokens);
    REQUIRE(tokens != NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int bad = 0;
    int failed = 0;
    REQUIRE_EQ_INT(token_bulk_begin(v), 0);
    for (long i = 0; i < count; i++) {
        /* Few distinct last fours (64), so tokens crowd into the same part of the range and
         * collisions are drawn again, as they must. */
        char pan[20], last4[5];
        int len = TOKEN_PAN_MIN + (int)(i % 7);
        snprintf(last4, sizeof last4, "%04ld", (i * 7919) % 64);
        canary_pan((uint64_t)i, len, last4, pan);
        struct token_request rq = request(pan, "2612", (uint8_t)i, "opa", "opb", "app");
        struct token_info t;
        bool created = false;
        if (tok(v, &rq, NOW, NULL, &t, &created) != JZ_OK || !created) {
            failed++;
            continue;
        }
        size_t n = strlen(t.token);
        bad += strcmp(t.token, pan) == 0 || !token_luhn_valid(t.token, n) ||
               strcmp(t.token + n - 4, last4) != 0 || n < 16;
        memcpy(tokens[i], t.token, 20);
        if (i % 50000 == 49999) {
            REQUIRE_EQ_INT(token_bulk_commit(v), 0);
            REQUIRE_EQ_INT(token_bulk_begin(v), 0);
        }
    }
    REQUIRE_EQ_INT(token_bulk_commit(v), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK_EQ_INT(failed, 0);
    CHECK_EQ_INT(bad, 0);
    qsort(tokens, (size_t)count, sizeof *tokens, cmp_token);
    long dups = 0;
    for (long i = 1; i < count; i++) {
        dups += strcmp(tokens[i - 1], tokens[i]) == 0;
    }
    CHECK_EQ_INT(dups, 0);
    struct token_key_status ks;
    REQUIRE_EQ_INT(token_key_status(v, &ks), 0);
    CHECK_EQ_INT(ks.tokens, count);
    struct token_stats st;
    token_get_stats(v, &st);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("  %ld tokenisations: %ld distinct tokens, %llu collisions drawn again, %.2f s"
           " (%.0f/s)\n", count, count - dups, (unsigned long long)st.collisions, s,
           (double)count / s);
    CHECK(st.collisions > 0); /* the uniqueness check was exercised, not only assumed */
    free(tokens);
    token_vault_close(v);
}
