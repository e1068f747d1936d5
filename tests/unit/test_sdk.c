/*
 * test_sdk.c: the C SDK (include/jiaozi.h) without a jiaozi server: request signing against
 * vectors computed with the openssl command line, ids, credentials files, URLs, the JSON
 * answer of every typed struct, HTTP framing, and the transport's behaviour (keep-alive,
 * reconnect, retries with the same body, no retry on 4xx, timeouts, a closed port) against a
 * small scripted HTTP server on a thread. The integration tests drive a real `jiaozi serve`.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jiaozi.h"
#include "../../sdk/sdk_int.h"
#include "test.h"

#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define ID_A "0123456789abcdef0123456789abcdef"
#define ID_B "11111111111111111111111111111111"
#define ID_C "22222222222222222222222222222222"
#define JSON_LEN(s) (s), strlen(s)

/* ---- signing ----------------------------------------------------------------------------- */

/* Computed independently with OpenSSL 3.0's command line:
 *   KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
 *   BH=$(printf '%s' "$BODY" | openssl dgst -sm3 -r | cut -d' ' -f1)
 *   printf 'POST\n/v1/transfers\n1700000000000\nAbCdEfGhIjKlMnOpQrStUvWxYz012345\n%s' "$BH" |
 *       openssl dgst -sm3 -mac HMAC -macopt hexkey:$KEY -r
 * with BODY the string below, whose SM3 is
 * BH = a22a6a3a38e40ca0080051a0449ac56dc63cb3345bee0153809525badf61aade.
 */
TEST(sdk_sign_matches_openssl_post)
{
    static const char body[] =
        "{\"id\":\"0123456789abcdef0123456789abcdef\","
        "\"debit\":\"11111111111111111111111111111111\","
        "\"credit\":\"22222222222222222222222222222222\",\"amount\":1234,\"kind\":\"p2p\"}";
    char mac[65];
    REQUIRE_EQ_INT(jz_sign(KEY_HEX, "POST", "/v1/transfers", 1700000000000LL,
                           "AbCdEfGhIjKlMnOpQrStUvWxYz012345", body, strlen(body), mac),
                   0);
    CHECK_EQ_STR(mac, "41ca671844de8657d7230eb98ca1fc9f786a570da089fd3e36db824dd08a4232");
}

/* An empty body hashes to SM3("") = 1ab21d83...2aa2b:
 *   EH=$(printf '' | openssl dgst -sm3 -r | cut -c1-64)
 *   printf 'GET\n/v1/wallets/0123456789abcdef0123456789abcdef/transfers?limit=10&cursor=abc\n'\
 *          '1700000000123\nnonce_nonce-1234\n%s' "$EH" |
 *       openssl dgst -sm3 -mac HMAC -macopt hexkey:$KEY -r
 */
TEST(sdk_sign_matches_openssl_get_with_query)
{
    char mac[65];
    REQUIRE_EQ_INT(jz_sign(KEY_HEX, "GET", "/v1/wallets/" ID_A "/transfers?limit=10&cursor=abc",
                           1700000000123LL, "nonce_nonce-1234", NULL, 0, mac),
                   0);
    CHECK_EQ_STR(mac, "239e1f0fe318c7e23fc39a81ca9a2e6ba186d61e10221d4f925d70a77d9851ca");
    /* Uppercase hex secrets decode to the same key. */
    char upper[65];
    snprintf(upper, sizeof upper, "%s", KEY_HEX);
    for (char *p = upper; *p; p++) {
        *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
    }
    char mac2[65];
    REQUIRE_EQ_INT(jz_sign(upper, "GET", "/v1/wallets/" ID_A "/transfers?limit=10&cursor=abc",
                           1700000000123LL, "nonce_nonce-1234", "", 0, mac2),
                   0);
    CHECK_EQ_STR(mac2, mac);
}

TEST(sdk_sign_refuses_bad_input)
{
    char mac[65] = "untouched";
    CHECK_EQ_INT(jz_sign("abcd", "GET", "/", 1, "n", NULL, 0, mac), -1);
    CHECK_EQ_INT(jz_sign(NULL, "GET", "/", 1, "n", NULL, 0, mac), -1);
    CHECK_EQ_INT(jz_sign(KEY_HEX, NULL, "/", 1, "n", NULL, 0, mac), -1);
    CHECK_EQ_INT(jz_sign(KEY_HEX, "GET", "/", 1, NULL, NULL, 0, mac), -1);
    CHECK_EQ_INT(jz_sign(KEY_HEX, "GET", "/", 1, "n", NULL, 5, mac), -1);
    CHECK_EQ_STR(mac, "untouched");
    /* A path longer than the stack buffer takes the heap path and still signs. */
    char path[3000] = "/v1/x?c=";
    memset(path + 8, 'a', sizeof path - 9);
    path[sizeof path - 1] = '\0';
    CHECK_EQ_INT(jz_sign(KEY_HEX, "GET", path, 1, "n", NULL, 0, mac), 0);
    CHECK_EQ_INT(strlen(mac), 64);
}

/* ---- ids and nonces ------------------------------------------------------------------------ */

TEST(sdk_id_helpers)
{
    char a[JZ_ID_SIZE];
    char b[JZ_ID_SIZE];
    REQUIRE_EQ_INT(jz_id_new(a), 0);
    REQUIRE_EQ_INT(jz_id_new(b), 0);
    CHECK(jz_id_valid(a));
    CHECK(jz_id_valid(b));
    CHECK_EQ_INT(strlen(a), 32);
    CHECK(strcmp(a, b) != 0);
    CHECK(jz_id_valid(ID_A));
    CHECK(!jz_id_valid(NULL));
    CHECK(!jz_id_valid(""));
    CHECK(!jz_id_valid("0123456789ABCDEF0123456789abcdef")); /* uppercase */
    CHECK(!jz_id_valid("0123456789abcdef0123456789abcde"));  /* 31 */
    CHECK(!jz_id_valid("0123456789abcdef0123456789abcdef0")); /* 33 */
    CHECK(!jz_id_valid("0123456789abcdef0123456789abcdeg"));
    char nonce[SDK_NONCE_LEN + 1];
    REQUIRE_EQ_INT(sdk_nonce_new(nonce), 0);
    CHECK_EQ_INT(strlen(nonce), 32);
    CHECK_EQ_INT(strspn(nonce, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
                 32);
}

/* ---- URLs and clients ---------------------------------------------------------------------- */

static bool url_ok(const char *url, const char *host, const char *port)
{
    char h[SDK_HOST_SIZE];
    char p[SDK_PORT_SIZE];
    return sdk_url_parse(url, h, p, NULL) == 0 && strcmp(h, host) == 0 && strcmp(p, port) == 0;
}

static bool url_refused(const char *url)
{
    char h[SDK_HOST_SIZE] = "x";
    char p[SDK_PORT_SIZE] = "y";
    jz_error e;
    memset(&e, 0, sizeof e);
    return sdk_url_parse(url, h, p, &e) == -1 && strcmp(e.code, "invalid_argument") == 0 &&
           strcmp(e.field, "url") == 0 && strcmp(h, "x") == 0 && strcmp(p, "y") == 0;
}

TEST(sdk_url_validation)
{
    CHECK(url_ok("http://127.0.0.1:8080", "127.0.0.1", "8080"));
    CHECK(url_ok("http://localhost:1/", "localhost", "1"));
    CHECK(url_ok("http://node-1.example.cn:65535", "node-1.example.cn", "65535"));
    CHECK(url_ok("http://[::1]:7000", "::1", "7000"));
    CHECK(url_ok("http://example", "example", "80"));
    CHECK(url_ok("http://h:08080", "h", "8080"));
    CHECK(url_refused(NULL));
    CHECK(url_refused(""));
    CHECK(url_refused("https://127.0.0.1:443"));
    CHECK(url_refused("ftp://127.0.0.1:21"));
    CHECK(url_refused("127.0.0.1:8080"));
    CHECK(url_refused("http://"));
    CHECK(url_refused("http://:8080"));
    CHECK(url_refused("http://host:0"));
    CHECK(url_refused("http://host:65536"));
    CHECK(url_refused("http://host:123456"));
    CHECK(url_refused("http://host:"));
    CHECK(url_refused("http://host:abc"));
    CHECK(url_refused("http://host:80/v1"));
    CHECK(url_refused("http://host:80//"));
    CHECK(url_refused("http://host:80?x=1"));
    CHECK(url_refused("http://user@host:80"));
    CHECK(url_refused("http://ho st:80"));
    CHECK(url_refused("http://[::1:80"));
    CHECK(url_refused("http://[]:80"));
}

TEST(sdk_client_new_validates)
{
    jz_error e;
    jz_client *c = jz_client_new("http://127.0.0.1:9", "key-1", KEY_HEX, &e);
    REQUIRE(c != NULL);
    CHECK_EQ_STR(jz_client_url(c), "http://127.0.0.1:9");
    CHECK_EQ_STR(jz_client_institution(c), "");
    CHECK_EQ_INT(jz_client_last_status(c), 0);
    CHECK_EQ_INT(jz_client_set_timeout_ms(c, 0), -1);
    CHECK_EQ_INT(jz_client_set_timeout_ms(c, 250), 0);
    CHECK_EQ_INT(jz_client_set_max_retries(c, -1), -1);
    CHECK_EQ_INT(jz_client_set_max_retries(c, 101), -1);
    CHECK_EQ_INT(jz_client_set_max_retries(c, 0), 0);
    jz_client_free(c);
    jz_client_free(NULL);

    CHECK(jz_client_new("https://x:1", "key-1", KEY_HEX, &e) == NULL);
    CHECK_EQ_STR(e.field, "url");
    CHECK(jz_client_new("http://x:1", "key 1", KEY_HEX, &e) == NULL);
    CHECK_EQ_STR(e.field, "key_id");
    CHECK(jz_client_new("http://x:1", "", KEY_HEX, &e) == NULL);
    CHECK_EQ_STR(e.field, "key_id");
    CHECK(jz_client_new("http://x:1", "key-1", "00ff", &e) == NULL);
    CHECK_EQ_STR(e.field, "secret");
    CHECK_EQ_STR(e.code, "invalid_argument");
    CHECK(jz_client_new("http://x:1", "key-1", NULL, NULL) == NULL);
}

/* ---- credentials files --------------------------------------------------------------------- */

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

#define GOOD_CRED                                                                          \
    "{\"institution\":\"central\",\"key_id\":\"k-central-1\",\"secret\":\"" KEY_HEX "\"," \
    "\"url\":\"http://127.0.0.1:8088\"}"

TEST(sdk_credentials_good_file)
{
    jz_credentials c;
    jz_error e;
    REQUIRE_EQ_INT(jz_credentials_load(write_file("central.json", GOOD_CRED), &c, &e), 0);
    CHECK_EQ_STR(c.institution, "central");
    CHECK_EQ_STR(c.key_id, "k-central-1");
    CHECK_EQ_STR(c.secret, KEY_HEX);
    CHECK_EQ_STR(c.url, "http://127.0.0.1:8088");
    CHECK_EQ_STR(c.treasury, "");
    jz_credentials_clear(&c);
    CHECK_EQ_STR(c.secret, "");

    jz_client *cl = jz_client_from_file(write_file("c2.json", GOOD_CRED), &e);
    REQUIRE(cl != NULL);
    CHECK_EQ_STR(jz_client_institution(cl), "central");
    CHECK_EQ_STR(jz_client_url(cl), "http://127.0.0.1:8088");
    jz_client_free(cl);

    /* Members beyond the four (a treasury, anything newer) are accepted. */
    const char *extra = "{\"institution\":\"icbc\",\"key_id\":\"k2\",\"secret\":\"" KEY_HEX
                        "\",\"url\":\"http://h:1\",\"treasury\":\"" ID_A "\",\"x\":1}";
    REQUIRE_EQ_INT(jz_credentials_load(write_file("icbc.json", extra), &c, &e), 0);
    CHECK_EQ_STR(c.treasury, ID_A);
}

static void check_bad_credentials(const char *text, const char *code, const char *field)
{
    jz_credentials c;
    memset(&c, 0x5a, sizeof c);
    jz_error e;
    memset(&e, 0, sizeof e);
    CHECK_EQ_INT(jz_credentials_load(write_file("bad.json", text), &c, &e), -1);
    CHECK_EQ_STR(e.code, code);
    CHECK_EQ_STR(e.field, field);
    CHECK(strstr(e.message, "bad.json") != NULL);
    CHECK_EQ_INT((unsigned char)c.institution[0], 0x5a); /* untouched on failure */
    CHECK(jz_client_from_file(write_file("bad.json", text), &e) == NULL);
}

TEST(sdk_credentials_bad_files)
{
    check_bad_credentials("{\"institution\":\"central\",\"secret\":\"" KEY_HEX
                          "\",\"url\":\"http://h:1\"}",
                          "bad_credentials", "key_id");
    check_bad_credentials("{\"institution\":\"central\",\"key_id\":\"k\",\"url\":\"http://h:1\"}",
                          "bad_credentials", "secret");
    check_bad_credentials("{\"key_id\":\"k\",\"secret\":\"" KEY_HEX "\",\"url\":\"http://h:1\"}",
                          "bad_credentials", "institution");
    check_bad_credentials("{\"institution\":\"central\",\"key_id\":\"k\",\"secret\":\"" KEY_HEX
                          "\"}",
                          "bad_credentials", "url");
    /* Bad hex: a non-hex digit, and one digit short. */
    check_bad_credentials("{\"institution\":\"central\",\"key_id\":\"k\",\"secret\":\"zz0102030405"
                          "060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\","
                          "\"url\":\"http://h:1\"}",
                          "bad_credentials", "secret");
    check_bad_credentials("{\"institution\":\"central\",\"key_id\":\"k\",\"secret\":\"00010203040"
                          "5060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1\","
                          "\"url\":\"http://h:1\"}",
                          "bad_credentials", "secret");
    check_bad_credentials("{\"institution\":\"central\",\"key_id\":\"k\",\"secret\":\"" KEY_HEX
                          "\",\"url\":\"https://h:1\"}",
                          "bad_credentials", "url");
    check_bad_credentials("{\"institution\":\"Central!\",\"key_id\":\"k\",\"secret\":\"" KEY_HEX
                          "\",\"url\":\"http://h:1\"}",
                          "bad_credentials", "institution");
    check_bad_credentials("{\"institution\":7,\"key_id\":\"k\",\"secret\":\"" KEY_HEX
                          "\",\"url\":\"http://h:1\"}",
                          "bad_credentials", "institution");
    check_bad_credentials("not json", "bad_credentials", "");
    check_bad_credentials("[1,2]", "bad_credentials", "");
    check_bad_credentials(GOOD_CRED GOOD_CRED, "bad_credentials", "");
}

TEST(sdk_credentials_unreadable)
{
    jz_credentials c;
    jz_error e;
    char path[512];
    snprintf(path, sizeof path, "%s/missing.json", test_tmpdir());
    CHECK_EQ_INT(jz_credentials_load(path, &c, &e), -1);
    CHECK_EQ_STR(e.code, "io_error");
    CHECK(strstr(e.message, "missing.json") != NULL);
    CHECK(strstr(e.message, "No such file") != NULL);
    /* A directory opens but cannot be read (root ignores chmod 000, so this is the portable
     * way to make a file unreadable). */
    CHECK_EQ_INT(jz_credentials_load(test_tmpdir(), &c, &e), -1);
    CHECK_EQ_STR(e.code, "io_error");
    CHECK_EQ_INT(jz_credentials_load(NULL, &c, &e), -1);
    CHECK_EQ_STR(e.code, "io_error");
}

TEST(sdk_credentials_save_round_trip)
{
    jz_credentials c;
    memset(&c, 0, sizeof c);
    snprintf(c.institution, sizeof c.institution, "icbc");
    snprintf(c.key_id, sizeof c.key_id, "k\"quoted\\");
    snprintf(c.secret, sizeof c.secret, KEY_HEX);
    snprintf(c.url, sizeof c.url, "http://127.0.0.1:1");
    snprintf(c.treasury, sizeof c.treasury, ID_A);
    char path[512];
    snprintf(path, sizeof path, "%s/icbc.json", test_tmpdir());
    jz_error e;
    REQUIRE_EQ_INT(jz_credentials_save(&c, path, &e), 0);
    struct stat st;
    REQUIRE_EQ_INT(stat(path, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    jz_credentials back;
    REQUIRE_EQ_INT(jz_credentials_load(path, &back, &e), 0);
    CHECK_EQ_MEM(&back, &c, sizeof c);
    /* Never replaces a file: a secret shown once must not be lost to a typo. */
    CHECK_EQ_INT(jz_credentials_save(&c, path, &e), -1);
    CHECK_EQ_STR(e.code, "io_error");
    char small[16];
    CHECK_EQ_INT(jz_credentials_format(&c, small, sizeof small), -1);
}

/* ---- JSON answers --------------------------------------------------------------------------- */

#define WALLET_JSON(extra)                                                                     \
    "{\"id\":\"" ID_A "\",\"operator\":\"icbc\",\"kind\":\"personal\",\"tier\":2,"             \
    "\"form\":\"soft\",\"status\":\"active\",\"parent\":null,\"balance\":1000,\"held\":200,"  \
    "\"available\":800,\"day_out\":5,\"year_out\":7,\"created_at\":1700000000000" extra "}"

TEST(sdk_parses_wallet_good)
{
    jz_wallet w;
    jz_error e;
    REQUIRE_EQ_INT(sdk_parse_wallet(JSON_LEN(WALLET_JSON(",\"mcc\":null,\"new\":[1]")), &w, &e),
                   0);
    CHECK_EQ_STR(w.id, ID_A);
    CHECK_EQ_STR(w.operator_id, "icbc");
    CHECK_EQ_STR(w.kind, "personal");
    CHECK_EQ_INT(w.tier, 2);
    CHECK_EQ_STR(w.form, "soft");
    CHECK_EQ_STR(w.status, "active");
    CHECK_EQ_STR(w.parent, "");
    CHECK_EQ_INT(w.balance, 1000);
    CHECK_EQ_INT(w.held, 200);
    CHECK_EQ_INT(w.available, 800);
    CHECK_EQ_INT(w.day_out, 5);
    CHECK_EQ_INT(w.year_out, 7);
    CHECK_EQ_INT(w.created_at, 1700000000000LL);
    CHECK_EQ_INT(w.mcc, 0);
    static const char merchant[] =
        "{\"id\":\"" ID_B "\",\"operator\":\"icbc\",\"kind\":\"merchant\",\"tier\":1,"
        "\"form\":\"hard\",\"status\":\"frozen\",\"parent\":\"" ID_A "\","
        "\"balance\":-9000000000000000,"
        "\"held\":0,\"available\":-9000000000000000,\"day_out\":0,\"year_out\":0,"
        "\"created_at\":1,\"mcc\":5812}";
    REQUIRE_EQ_INT(sdk_parse_wallet(JSON_LEN(merchant), &w, &e), 0);
    CHECK_EQ_STR(w.parent, ID_A);
    CHECK_EQ_INT(w.mcc, 5812);
    CHECK_EQ_INT(w.balance, -9000000000000000LL);
}

static void check_bad_answer(int rc, const jz_error *e, const char *field)
{
    CHECK_EQ_INT(rc, -1);
    CHECK_EQ_STR(e->code, "bad_response");
    CHECK_EQ_STR(e->field, field);
    CHECK_EQ_INT(e->http_status, 0);
}

TEST(sdk_parses_wallet_malformed)
{
    jz_wallet w;
    memset(&w, 0x77, sizeof w);
    jz_error e;
    static const char missing[] =
        "{\"id\":\"" ID_A "\",\"operator\":\"icbc\",\"kind\":\"personal\",\"tier\":2,"
        "\"form\":\"soft\",\"status\":\"active\",\"parent\":null,\"held\":0,\"available\":0,"
        "\"day_out\":0,\"year_out\":0,\"created_at\":1}";
    check_bad_answer(sdk_parse_wallet(JSON_LEN(missing), &w, &e), &e, "balance");
    CHECK_EQ_INT((unsigned char)w.id[0], 0x77); /* out untouched */
    const char *s = WALLET_JSON(",\"mcc\":\"5812\"");
    check_bad_answer(sdk_parse_wallet(JSON_LEN(s), &w, &e), &e, "mcc");
    static const char float_balance[] =
        "{\"id\":\"" ID_A "\",\"operator\":\"icbc\",\"kind\":\"personal\",\"tier\":2,"
        "\"form\":\"soft\",\"status\":\"active\",\"parent\":null,\"balance\":1.5,\"held\":0,"
        "\"available\":0,\"day_out\":0,\"year_out\":0,\"created_at\":1}";
    check_bad_answer(sdk_parse_wallet(JSON_LEN(float_balance), &w, &e), &e, "balance");
    static const char bad_id[] =
        "{\"id\":\"ABC\",\"operator\":\"icbc\",\"kind\":\"personal\",\"tier\":2}";
    check_bad_answer(sdk_parse_wallet(JSON_LEN(bad_id), &w, &e), &e, "id");
    static const char long_kind[] =
        "{\"id\":\"" ID_A "\",\"operator\":\"icbc\",\"kind\":\"personalpersonalpersonalpersonal\"}";
    check_bad_answer(sdk_parse_wallet(JSON_LEN(long_kind), &w, &e), &e, "kind");
    static const char tier9[] =
        "{\"id\":\"" ID_A "\",\"operator\":\"icbc\",\"kind\":\"personal\",\"tier\":9}";
    check_bad_answer(sdk_parse_wallet(JSON_LEN(tier9), &w, &e), &e, "tier");
    static const char nul[] = "{\"id\":\"" ID_A "\",\"operator\":\"ic\\u0000bc\"}";
    check_bad_answer(sdk_parse_wallet(JSON_LEN(nul), &w, &e), &e, ""); /* jansson refuses */
    check_bad_answer(sdk_parse_wallet(JSON_LEN("[]"), &w, &e), &e, "");
    check_bad_answer(sdk_parse_wallet(JSON_LEN("{\"id\":"), &w, &e), &e, "");
    check_bad_answer(sdk_parse_wallet(JSON_LEN(""), &w, &e), &e, "");
    check_bad_answer(sdk_parse_wallet(JSON_LEN("{\"id\":\"a\",\"id\":\"b\"}"), &w, &e), &e, "");
}

#define TRANSFER_JSON(id, extra)                                                              \
    "{\"id\":\"" id "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C "\",\"amount\":1234,"      \
    "\"kind\":\"p2p\",\"status\":\"posted\",\"timestamp\":1700000000000" extra "}"

TEST(sdk_parses_transfer)
{
    jz_transfer t;
    jz_error e;
    REQUIRE_EQ_INT(sdk_parse_transfer(JSON_LEN(TRANSFER_JSON(ID_A, "")), &t, &e), 0);
    CHECK_EQ_STR(t.id, ID_A);
    CHECK_EQ_STR(t.debit, ID_B);
    CHECK_EQ_STR(t.credit, ID_C);
    CHECK_EQ_INT(t.amount, 1234);
    CHECK_EQ_STR(t.kind, "p2p");
    CHECK_EQ_STR(t.status, "posted");
    CHECK_EQ_INT(t.timestamp, 1700000000000LL);
    CHECK_EQ_STR(t.ref, "");
    CHECK_EQ_STR(t.memo, "");
    const char *s =
        TRANSFER_JSON(ID_A, ",\"ref\":\"order-9\",\"memo\":\"\\u997a\\u5b50 \\\"x\\\"\"");
    REQUIRE_EQ_INT(sdk_parse_transfer(JSON_LEN(s), &t, &e), 0);
    CHECK_EQ_STR(t.ref, "order-9");
    CHECK_EQ_STR(t.memo, "\xe9\xa5\xba\xe5\xad\x90 \"x\"");
    s = TRANSFER_JSON(ID_A, ",\"ref\":null,\"memo\":null");
    CHECK_EQ_INT(sdk_parse_transfer(JSON_LEN(s), &t, &e), 0);
    static const char zero[] =
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C "\",\"amount\":0}";
    check_bad_answer(sdk_parse_transfer(JSON_LEN(zero), &t, &e), &e, "amount");
    static const char huge[] =
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
        "\",\"amount\":99999999999999999999}";
    check_bad_answer(sdk_parse_transfer(JSON_LEN(huge), &t, &e), &e, "");
    char memo[400];
    snprintf(memo, sizeof memo, TRANSFER_JSON(ID_A, ",\"memo\":\"%0141d\""), 0);
    check_bad_answer(sdk_parse_transfer(JSON_LEN(memo), &t, &e), &e, "memo");
}

TEST(sdk_parses_hold)
{
    static const char good[] =
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C "\",\"amount\":500,"
        "\"captured\":300,\"status\":\"captured\",\"deadline\":1700000900000,"
        "\"created_at\":1700000000000}";
    jz_hold h;
    jz_error e;
    REQUIRE_EQ_INT(sdk_parse_hold(JSON_LEN(good), &h, &e), 0);
    CHECK_EQ_STR(h.id, ID_A);
    CHECK_EQ_INT(h.amount, 500);
    CHECK_EQ_INT(h.captured, 300);
    CHECK_EQ_STR(h.status, "captured");
    CHECK_EQ_INT(h.deadline, 1700000900000LL);
    CHECK_EQ_INT(h.created_at, 1700000000000LL);
    static const char no_deadline[] =
        "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C "\",\"amount\":500,"
        "\"captured\":0,\"status\":\"pending\",\"created_at\":1}";
    check_bad_answer(sdk_parse_hold(JSON_LEN(no_deadline), &h, &e), &e, "deadline");
}

TEST(sdk_parses_institutions)
{
    static const char one[] =
        "{\"id\":\"icbc\",\"name\":\"Industrial and Commercial\",\"kind\":\"operator\","
        "\"treasury\":\"" ID_A "\"}";
    jz_institution in;
    jz_error e;
    REQUIRE_EQ_INT(sdk_parse_institution(JSON_LEN(one), &in, &e), 0);
    CHECK_EQ_STR(in.id, "icbc");
    CHECK_EQ_STR(in.name, "Industrial and Commercial");
    CHECK_EQ_STR(in.kind, "operator");
    CHECK_EQ_STR(in.treasury, ID_A);
    static const char bad_id[] =
        "{\"id\":\"ICBC\",\"name\":\"x\",\"kind\":\"operator\",\"treasury\":\"" ID_A "\"}";
    check_bad_answer(sdk_parse_institution(JSON_LEN(bad_id), &in, &e), &e, "id");

    static const char list[] =
        "{\"institutions\":[{\"id\":\"central\",\"name\":\"PBOC\",\"kind\":\"central\","
        "\"treasury\":\"" ID_B "\"},{\"id\":\"icbc\",\"name\":\"I\",\"kind\":\"operator\","
        "\"treasury\":\"" ID_A "\"},{\"id\":\"boc\",\"name\":\"B\",\"kind\":\"operator\","
        "\"treasury\":\"" ID_C "\"}]}";
    jz_institution items[2];
    size_t n = 0;
    REQUIRE_EQ_INT(sdk_parse_institution_list(JSON_LEN(list), items, 2, &n, &e), 0);
    CHECK_EQ_INT(n, 3); /* more than the array holds: the caller can tell */
    CHECK_EQ_STR(items[0].id, "central");
    CHECK_EQ_STR(items[1].treasury, ID_A);
    static const char bad_item[] = "{\"institutions\":[{\"id\":\"x\"}]}";
    check_bad_answer(sdk_parse_institution_list(JSON_LEN(bad_item), items, 2, &n, &e), &e,
                     "institutions[0].name");
    check_bad_answer(sdk_parse_institution_list(JSON_LEN("{\"institutions\":{}}"), items, 2, &n,
                                                &e),
                     &e, "institutions");
}

TEST(sdk_parses_created_institution)
{
    static const char created[] =
        "{\"id\":\"icbc\",\"key_id\":\"k-icbc\",\"secret\":\"" KEY_HEX "\",\"treasury\":\"" ID_A
        "\"}";
    jz_credentials c;
    jz_error e;
    REQUIRE_EQ_INT(sdk_parse_created_institution(JSON_LEN(created), &c, &e), 0);
    CHECK_EQ_STR(c.institution, "icbc");
    CHECK_EQ_STR(c.key_id, "k-icbc");
    CHECK_EQ_STR(c.secret, KEY_HEX);
    CHECK_EQ_STR(c.treasury, ID_A);
    static const char replay[] =
        "{\"id\":\"icbc\",\"key_id\":\"k-icbc\",\"treasury\":\"" ID_A "\"}";
    REQUIRE_EQ_INT(sdk_parse_created_institution(JSON_LEN(replay), &c, &e), 0);
    CHECK_EQ_STR(c.secret, "");
    static const char bad_secret[] =
        "{\"id\":\"icbc\",\"key_id\":\"k\",\"secret\":\"beef\",\"treasury\":\"" ID_A "\"}";
    check_bad_answer(sdk_parse_created_institution(JSON_LEN(bad_secret), &c, &e), &e, "secret");
}

TEST(sdk_parses_history)
{
    static const char page[] = "{\"transfers\":[" TRANSFER_JSON(ID_A, "") "," TRANSFER_JSON(
        ID_B, ",\"memo\":\"m\"") "],\"next_cursor\":\"c/2+x\"}";
    jz_transfer items[3];
    size_t n = 0;
    char cursor[JZ_CURSOR_SIZE];
    jz_error e;
    REQUIRE_EQ_INT(sdk_parse_history(JSON_LEN(page), items, 3, &n, cursor, &e), 0);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_STR(items[0].id, ID_A);
    CHECK_EQ_STR(items[1].id, ID_B);
    CHECK_EQ_STR(items[1].memo, "m");
    CHECK_EQ_STR(cursor, "c/2+x");
    static const char last[] = "{\"transfers\":[],\"next_cursor\":null}";
    REQUIRE_EQ_INT(sdk_parse_history(JSON_LEN(last), items, 3, &n, cursor, &e), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_STR(cursor, "");
    check_bad_answer(sdk_parse_history(JSON_LEN(page), items, 1, &n, cursor, &e), &e,
                     "transfers");
    static const char bad_item[] =
        "{\"transfers\":[" TRANSFER_JSON(ID_A, "") ",{\"id\":1}],\"next_cursor\":null}";
    check_bad_answer(sdk_parse_history(JSON_LEN(bad_item), items, 3, &n, cursor, &e), &e,
                     "transfers[1].id");
    check_bad_answer(sdk_parse_history(JSON_LEN("{\"transfers\":[]}"), items, 3, &n, cursor, &e),
                     &e, "next_cursor");
}

TEST(sdk_parses_batch)
{
    static const char ids[3][JZ_ID_SIZE] = {ID_A, ID_B, ID_C};
    static const char answer[] =
        "{\"results\":[{\"id\":\"" ID_A "\",\"status\":\"posted\"},{\"id\":\"" ID_B "\","
        "\"error\":{\"code\":\"insufficient_funds\",\"message\":\"balance 5 < 9\","
        "\"field\":\"amount\"}},{\"id\":\"" ID_C "\",\"error\":{\"code\":\"linked_failed\","
        "\"message\":\"another item of the chain failed\"}}]}";
    jz_batch_result r[3];
    jz_error e;
    REQUIRE_EQ_INT(sdk_parse_batch(JSON_LEN(answer), ids, 3, r, &e), 0);
    CHECK(r[0].posted);
    CHECK_EQ_STR(r[0].id, ID_A);
    CHECK(!r[1].posted);
    CHECK_EQ_STR(r[1].error.code, "insufficient_funds");
    CHECK_EQ_STR(r[1].error.message, "balance 5 < 9");
    CHECK_EQ_STR(r[1].error.field, "amount");
    CHECK_EQ_STR(r[2].error.code, "linked_failed");
    CHECK_EQ_STR(r[2].error.field, "");
    check_bad_answer(sdk_parse_batch(JSON_LEN(answer), ids, 2, r, &e), &e, "results");
    static const char swapped[3][JZ_ID_SIZE] = {ID_B, ID_A, ID_C};
    check_bad_answer(sdk_parse_batch(JSON_LEN(answer), swapped, 3, r, &e), &e, "results[0].id");
    static const char neither[] = "{\"results\":[{\"id\":\"" ID_A "\",\"status\":\"queued\"}]}";
    check_bad_answer(sdk_parse_batch(JSON_LEN(neither), ids, 1, r, &e), &e, "results[0].status");
}

TEST(sdk_parses_audit_head_and_health)
{
    static const char head[] =
        "{\"seq\":42,\"hash\":\"1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b\","
        "\"signature\":\"3045022100ab\",\"public_key\":\"-----BEGIN PUBLIC KEY-----\\nMFkw\\n"
        "-----END PUBLIC KEY-----\\n\"}";
    jz_audit_head h;
    jz_error e;
    REQUIRE_EQ_INT(sdk_parse_audit_head(JSON_LEN(head), &h, &e), 0);
    CHECK_EQ_INT(h.seq, 42);
    CHECK_EQ_STR(h.hash, "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b");
    CHECK_EQ_STR(h.signature, "3045022100ab");
    CHECK(strncmp(h.public_key, "-----BEGIN PUBLIC KEY-----\nMFkw\n", 32) == 0);
    static const char short_hash[] =
        "{\"seq\":1,\"hash\":\"abcd\",\"signature\":\"00\",\"public_key\":\"-----BEGIN \"}";
    check_bad_answer(sdk_parse_audit_head(JSON_LEN(short_hash), &h, &e), &e, "hash");
    static const char neg[] = "{\"seq\":-1}";
    check_bad_answer(sdk_parse_audit_head(JSON_LEN(neg), &h, &e), &e, "seq");

    jz_health hz;
    REQUIRE_EQ_INT(sdk_parse_health(JSON_LEN("{\"status\":\"ok\",\"seq\":7}"), &hz, &e), 0);
    CHECK_EQ_STR(hz.status, "ok");
    CHECK_EQ_INT(hz.seq, 7);
    check_bad_answer(sdk_parse_health(JSON_LEN("{\"status\":\"ok\"}"), &hz, &e), &e, "seq");
}

TEST(sdk_parses_error_object)
{
    jz_error e;
    static const char body[] =
        "{\"error\":{\"code\":\"wallet_frozen\",\"message\":\"the wallet is frozen\","
        "\"field\":\"debit\"}}";
    CHECK_EQ_INT(sdk_parse_error(422, JSON_LEN(body), &e), 0);
    CHECK_EQ_INT(e.http_status, 422);
    CHECK_EQ_STR(e.code, "wallet_frozen");
    CHECK_EQ_STR(e.message, "the wallet is frozen");
    CHECK_EQ_STR(e.field, "debit");
    CHECK_EQ_INT(sdk_parse_error(502, JSON_LEN("<html>bad gateway</html>"), &e), -1);
    CHECK_EQ_INT(e.http_status, 502);
    CHECK_EQ_STR(e.code, "bad_response");
    CHECK_EQ_INT(sdk_parse_error(500, NULL, 0, &e), -1);
    CHECK_EQ_STR(e.code, "bad_response");
    /* A long server message is cut at a character boundary, never mid-character. */
    char big[1200] = "{\"error\":{\"code\":\"x\",\"message\":\"";
    for (int i = 0; i < 300; i++) {
        strcat(big, "\xe9\xa5\xba"); /* 3 bytes: 255 fits 85 of them */
    }
    strcat(big, "\"}}");
    CHECK_EQ_INT(sdk_parse_error(400, JSON_LEN(big), &e), 0);
    CHECK_EQ_INT(strlen(e.message), 255);
    CHECK_EQ_INT(strlen(e.message) % 3, 0);
}

/* ---- HTTP framing, through a socket pair ---------------------------------------------------- */

struct pair {
    int fds[2];
    struct sdk_conn conn;
    struct sdk_response resp;
    char buf[256];
};

static int pair_read(struct pair *p, const char *raw, jz_error *e)
{
    memset(p, 0, sizeof *p);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fds) != 0) {
        return -1;
    }
    size_t n = strlen(raw);
    ssize_t w = write(p->fds[1], raw, n);
    shutdown(p->fds[1], SHUT_WR);
    p->conn.fd = p->fds[0];
    p->conn.rbuf = p->buf;
    p->conn.rcap = sizeof p->buf; /* small, to exercise refills and line limits */
    p->conn.deadline_ms = sdk_mono_ms() + 2000;
    int rc = w == (ssize_t)n ? sdk_read_response(&p->conn, &p->resp, e) : -1;
    close(p->fds[0]);
    close(p->fds[1]);
    return rc;
}

TEST(sdk_http_framing)
{
    struct pair p;
    jz_error e;
    REQUIRE_EQ_INT(pair_read(&p, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Other: y\r\n\r\n"
                                 "{\"a\":true}\n",
                             &e),
                   SDK_ATTEMPT_OK);
    CHECK_EQ_INT(p.resp.status, 200);
    CHECK_EQ_STR(p.resp.body, "{\"a\":true}\n");
    CHECK(!p.resp.close);
    sdk_response_free(&p.resp);

    /* Chunked, with an extension, a chunk split over refills, and a trailer. */
    REQUIRE_EQ_INT(pair_read(&p, "HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n"
                                 "5;x=y\r\n{\"a\":\r\n4\r\n\"bc\"\r\n1\r\n}\r\n0\r\nT: 1\r\n\r\n",
                             &e),
                   SDK_ATTEMPT_OK);
    CHECK_EQ_INT(p.resp.status, 201);
    CHECK_EQ_STR(p.resp.body, "{\"a\":\"bc\"}");
    sdk_response_free(&p.resp);

    /* 100 Continue is read past; Connection: close and Retry-After are noted. */
    REQUIRE_EQ_INT(pair_read(&p, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\n"
                                 "Retry-After: 2\r\nConnection: close\r\nContent-Length: 2\r\n"
                                 "\r\n{}",
                             &e),
                   SDK_ATTEMPT_OK);
    CHECK_EQ_INT(p.resp.status, 503);
    CHECK_EQ_INT(p.resp.retry_after_ms, 2000);
    CHECK(p.resp.close);
    sdk_response_free(&p.resp);

    /* HTTP/1.0 without a length: body to EOF, connection closes. */
    REQUIRE_EQ_INT(pair_read(&p, "HTTP/1.0 200 OK\r\n\r\nhello", &e), SDK_ATTEMPT_OK);
    CHECK_EQ_STR(p.resp.body, "hello");
    CHECK(p.resp.close);
    sdk_response_free(&p.resp);
}

TEST(sdk_http_framing_errors)
{
    struct pair p;
    jz_error e;
    CHECK_EQ_INT(pair_read(&p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", &e),
                 SDK_ATTEMPT_RETRY);
    CHECK_EQ_STR(e.code, "connection_failed");
    sdk_response_free(&p.resp);
    CHECK_EQ_INT(pair_read(&p, "", &e), SDK_ATTEMPT_RETRY);
    CHECK(strstr(e.message, "without answering") != NULL);
    sdk_response_free(&p.resp);
    static const char *const bad[] = {
        "SPDY/3 200 OK\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Long: "
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&e, 0, sizeof e);
        CHECK_EQ_INT(pair_read(&p, bad[i], &e), SDK_ATTEMPT_FAIL);
        CHECK_EQ_STR(e.code, "bad_response");
        sdk_response_free(&p.resp);
    }
}

/* ---- a scripted HTTP server on a thread ------------------------------------------------------ */

enum step_action {
    STEP_REPLY,       /* send the answer, keep the connection */
    STEP_REPLY_CLOSE, /* send the answer, then close */
    STEP_DROP,        /* read the request, close without answering */
    STEP_HANG,        /* read the request, answer nothing until the client gives up */
};

struct step {
    enum step_action action;
    const char *answer;
};

#define FAKE_REQUESTS_MAX 16

struct fake {
    int listen_fd;
    int port;
    const struct step *steps;
    int steps_n;
    pthread_t thread;
    int accepts;
    int requests;
    char head[FAKE_REQUESTS_MAX][2048];
    char body[FAKE_REQUESTS_MAX][2048];
};

/* Reads one request (head and Content-Length body) into slot i; -1 on EOF or error. */
static int fake_read_request(struct fake *f, int fd, int i)
{
    char buf[4096];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        ssize_t n = len + 1 < sizeof buf ? recv(fd, buf + len, sizeof buf - 1 - len, 0) : -1;
        if (n <= 0) {
            return -1;
        }
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t head_len = (size_t)(end - buf) + 4;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t body_len = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
    while (len < head_len + body_len && len + 1 < sizeof buf) {
        ssize_t n = recv(fd, buf + len, head_len + body_len - len, 0);
        if (n <= 0) {
            return -1;
        }
        len += (size_t)n;
    }
    snprintf(f->head[i], sizeof f->head[i], "%.*s", (int)head_len, buf);
    snprintf(f->body[i], sizeof f->body[i], "%.*s", (int)body_len, buf + head_len);
    return 0;
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    int fd = -1;
    while (f->requests < f->steps_n && f->requests < FAKE_REQUESTS_MAX) {
        if (fd < 0) {
            struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
            if (poll(&p, 1, 5000) != 1) {
                break;
            }
            fd = accept(f->listen_fd, NULL, NULL);
            f->accepts++;
            struct timeval tv = {.tv_sec = 5};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        }
        if (fake_read_request(f, fd, f->requests) != 0) {
            close(fd);
            fd = -1;
            continue;
        }
        const struct step *s = &f->steps[f->requests++];
        if (s->action == STEP_REPLY || s->action == STEP_REPLY_CLOSE) {
            ssize_t w = send(fd, s->answer, strlen(s->answer), MSG_NOSIGNAL);
            (void)w;
        } else if (s->action == STEP_HANG) {
            char c;
            while (recv(fd, &c, 1, 0) > 0) { /* until the client closes */
            }
        }
        if (s->action != STEP_REPLY) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    return NULL;
}

static int fake_start(struct fake *f, const struct step *steps, int n)
{
    memset(f, 0, sizeof *f);
    f->steps = steps;
    f->steps_n = n;
    f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(f->listen_fd, 8) != 0 ||
        getsockname(f->listen_fd, (struct sockaddr *)&a, &alen) != 0) {
        return -1;
    }
    f->port = ntohs(a.sin_port);
    return pthread_create(&f->thread, NULL, fake_main, f);
}

static void fake_stop(struct fake *f)
{
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
}

static jz_client *fake_client(const struct fake *f, int retries, int timeout_ms)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", f->port);
    jz_client *c = jz_client_new(url, "test-key", KEY_HEX, NULL);
    if (c) {
        jz_client_set_max_retries(c, retries);
        jz_client_set_timeout_ms(c, timeout_ms);
    }
    return c;
}

/* The value of header name in a recorded request head (copied into out). */
static const char *header(const char *head, const char *name, char *out, size_t size)
{
    char key[64];
    snprintf(key, sizeof key, "\r\n%s: ", name);
    const char *p = strcasestr(head, key);
    out[0] = '\0';
    if (p) {
        p += strlen(key);
        snprintf(out, size, "%.*s", (int)strcspn(p, "\r"), p);
    }
    return out;
}

/* Checks that request i of f carries a valid signature over what was actually sent. */
static void check_signed(const struct fake *f, int i, const char *method, const char *path)
{
    char key[64], ts[32], nonce[80], sig[80], expect[65];
    char line[512];
    snprintf(line, sizeof line, "%s %s HTTP/1.1\r\n", method, path);
    CHECK(strncmp(f->head[i], line, strlen(line)) == 0);
    header(f->head[i], "X-JZ-Key", key, sizeof key);
    header(f->head[i], "X-JZ-Timestamp", ts, sizeof ts);
    header(f->head[i], "X-JZ-Nonce", nonce, sizeof nonce);
    header(f->head[i], "X-JZ-Signature", sig, sizeof sig);
    CHECK_EQ_STR(key, "test-key");
    CHECK_EQ_INT(strlen(nonce), 32);
    long long t = atoll(ts);
    CHECK(t > sdk_now_ms() - 60000 && t <= sdk_now_ms());
    REQUIRE_EQ_INT(jz_sign(KEY_HEX, method, path, t, nonce, f->body[i], strlen(f->body[i]),
                           expect),
                   0);
    CHECK_EQ_STR(sig, expect);
}

/* Formats an answer with extra headers (each ending in CR LF) and its Content-Length into a
 * static slot. */
static const char *answer_h(int slot, const char *status, const char *headers, const char *json)
{
    static char slots[8][2048];
    snprintf(slots[slot], sizeof slots[slot],
             "HTTP/1.1 %s\r\nContent-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n%s",
             status, headers, strlen(json), json);
    return slots[slot];
}

static const char *answer(int slot, const char *status, const char *json)
{
    return answer_h(slot, status, "", json);
}

TEST(sdk_transfer_is_signed_and_parsed_keep_alive)
{
    const char *posted = answer(0, "201 Created", TRANSFER_JSON(ID_A, ",\"memo\":\"lunch\""));
    const char *again = answer(1, "200 OK", TRANSFER_JSON(ID_A, ",\"memo\":\"lunch\""));
    const struct step steps[] = {{STEP_REPLY, posted}, {STEP_REPLY, again}};
    struct fake f;
    REQUIRE_EQ_INT(fake_start(&f, steps, 2), 0);
    jz_client *c = fake_client(&f, 0, 2000);
    REQUIRE(c != NULL);
    jz_transfer_spec s = {.id = ID_A, .debit = ID_B, .credit = ID_C, .amount = 1234,
                          .kind = "p2p", .memo = "lunch"};
    jz_transfer t;
    jz_error e;
    CHECK_EQ_INT(jz_transfer_create(c, &s, &t, &e), 0);
    CHECK_EQ_INT(jz_client_last_status(c), 201);
    CHECK_EQ_STR(t.memo, "lunch");
    CHECK_EQ_INT(jz_transfer_create(c, &s, &t, &e), 0);
    CHECK_EQ_INT(jz_client_last_status(c), 200);
    jz_client_free(c);
    fake_stop(&f);
    CHECK_EQ_INT(f.requests, 2);
    CHECK_EQ_INT(f.accepts, 1); /* both on one kept-alive connection */
    check_signed(&f, 0, "POST", "/v1/transfers");
    check_signed(&f, 1, "POST", "/v1/transfers");
    CHECK_EQ_STR(f.body[0], "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
                            "\",\"amount\":1234,\"kind\":\"p2p\",\"memo\":\"lunch\"}");
    char ct[64];
    CHECK_EQ_STR(header(f.head[0], "Content-Type", ct, sizeof ct), "application/json");
}

TEST(sdk_retries_503_with_the_same_body)
{
    const char *busy =
        answer_h(1, "503 Service Unavailable", "Retry-After: 0\r\n",
                 "{\"error\":{\"code\":\"overloaded\",\"message\":\"queue full, retry soon\"}}");
    const struct step steps[] = {{STEP_REPLY, busy},
                                 {STEP_DROP, NULL},
                                 {STEP_REPLY, answer(0, "201 Created", TRANSFER_JSON(ID_A, ""))}};
    struct fake f;
    REQUIRE_EQ_INT(fake_start(&f, steps, 3), 0);
    jz_client *c = fake_client(&f, 3, 2000);
    REQUIRE(c != NULL);
    /* No id given: the SDK chooses one, and every attempt must carry that same one. */
    jz_transfer_spec s = {.debit = ID_B, .credit = ID_C, .amount = 1234, .kind = "p2p"};
    jz_transfer t;
    jz_error e;
    CHECK_EQ_INT(jz_transfer_create(c, &s, &t, &e), 0);
    CHECK_EQ_INT(jz_client_last_status(c), 201);
    jz_client_free(c);
    fake_stop(&f);
    REQUIRE_EQ_INT(f.requests, 3);
    CHECK(strstr(f.body[0], "\"id\":\"") != NULL);
    CHECK_EQ_STR(f.body[1], f.body[0]);
    CHECK_EQ_STR(f.body[2], f.body[0]);
    char n0[80], n1[80], n2[80];
    header(f.head[0], "X-JZ-Nonce", n0, sizeof n0);
    header(f.head[1], "X-JZ-Nonce", n1, sizeof n1);
    header(f.head[2], "X-JZ-Nonce", n2, sizeof n2);
    CHECK(strcmp(n0, n1) != 0 && strcmp(n1, n2) != 0 && strcmp(n0, n2) != 0);
    for (int i = 0; i < 3; i++) {
        check_signed(&f, i, "POST", "/v1/transfers");
    }
}

TEST(sdk_never_retries_4xx)
{
    const char *refused = answer(0, "422 Unprocessable Entity",
                                 "{\"error\":{\"code\":\"insufficient_funds\","
                                 "\"message\":\"balance too low\",\"field\":\"debit\"}}  ");
    const struct step steps[] = {{STEP_REPLY, refused}};
    struct fake f;
    REQUIRE_EQ_INT(fake_start(&f, steps, 1), 0);
    jz_client *c = fake_client(&f, 5, 2000);
    REQUIRE(c != NULL);
    jz_transfer_spec s = {.id = ID_A, .debit = ID_B, .credit = ID_C, .amount = 5, .kind = "p2p"};
    jz_transfer t;
    memset(&t, 0x33, sizeof t);
    jz_error e;
    CHECK_EQ_INT(jz_transfer_create(c, &s, &t, &e), -1);
    CHECK_EQ_INT(e.http_status, 422);
    CHECK_EQ_STR(e.code, "insufficient_funds");
    CHECK_EQ_STR(e.message, "balance too low");
    CHECK_EQ_STR(e.field, "debit");
    CHECK_EQ_INT((unsigned char)t.id[0], 0x33);
    CHECK_EQ_INT(jz_client_last_status(c), 422);
    jz_client_free(c);
    fake_stop(&f);
    CHECK_EQ_INT(f.requests, 1);
}

TEST(sdk_reconnects_when_the_server_closed_keep_alive)
{
    const char *health = answer(0, "200 OK", "{\"status\":\"ok\",\"seq\":3}");
    static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "a\r\n{\"status\":\r\n" "e\r\n\"ok\",\"seq\":99}\r\n0\r\n\r\n";
    const struct step steps[] = {{STEP_REPLY_CLOSE, health}, {STEP_REPLY, chunked}};
    struct fake f;
    REQUIRE_EQ_INT(fake_start(&f, steps, 2), 0);
    jz_client *c = fake_client(&f, 0, 2000); /* no retries: the reconnect is not one */
    REQUIRE(c != NULL);
    jz_health h;
    jz_error e;
    CHECK_EQ_INT(jz_healthz(c, &h, &e), 0);
    CHECK_EQ_INT(h.seq, 3);
    usleep(20000); /* let the server's close arrive */
    CHECK_EQ_INT(jz_healthz(c, &h, &e), 0);
    CHECK_EQ_INT(h.seq, 99);
    jz_client_free(c);
    fake_stop(&f);
    CHECK_EQ_INT(f.accepts, 2);
    char sig[80];
    CHECK_EQ_STR(header(f.head[0], "X-JZ-Signature", sig, sizeof sig), ""); /* unsigned */
    CHECK(strncmp(f.head[0], "GET /healthz HTTP/1.1\r\n", 23) == 0);
}

TEST(sdk_timeout_is_bounded_and_retried)
{
    const struct step steps[] = {{STEP_HANG, NULL}, {STEP_HANG, NULL}};
    struct fake f;
    REQUIRE_EQ_INT(fake_start(&f, steps, 2), 0);
    jz_client *c = fake_client(&f, 1, 200);
    REQUIRE(c != NULL);
    jz_wallet w;
    jz_error e;
    int64_t t0 = sdk_mono_ms();
    CHECK_EQ_INT(jz_wallet_get(c, ID_A, &w, &e), -1);
    int64_t took = sdk_mono_ms() - t0;
    CHECK_EQ_STR(e.code, "timeout");
    CHECK_EQ_INT(e.http_status, 0);
    CHECK(strstr(e.message, "after 2 attempts") != NULL);
    CHECK(took >= 400 && took < 2000);
    jz_client_free(c);
    fake_stop(&f);
    CHECK_EQ_INT(f.requests, 2);
    check_signed(&f, 0, "GET", "/v1/wallets/" ID_A);
}

TEST(sdk_bad_http_is_not_retried)
{
    const struct step steps[] = {{STEP_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                                    "\r\n[]"},
                                 {STEP_REPLY_CLOSE, "garbage\r\n\r\n"}};
    struct fake f;
    REQUIRE_EQ_INT(fake_start(&f, steps, 2), 0);
    jz_client *c = fake_client(&f, 3, 2000);
    REQUIRE(c != NULL);
    jz_audit_head h;
    jz_error e;
    CHECK_EQ_INT(jz_audit_get_head(c, &h, &e), -1); /* valid HTTP, JSON of the wrong shape */
    CHECK_EQ_STR(e.code, "bad_response");
    CHECK_EQ_INT(jz_audit_get_head(c, &h, &e), -1); /* not HTTP */
    CHECK_EQ_STR(e.code, "bad_response");
    jz_client_free(c);
    fake_stop(&f);
    CHECK_EQ_INT(f.requests, 2);
}

TEST(sdk_capture_retry_after_a_lost_answer)
{
    const char *resolved = answer(1, "409 Conflict",
                                  "{\"error\":{\"code\":\"already_resolved\","
                                  "\"message\":\"the hold is resolved\"}}");
    const char *hold = answer(0, "200 OK",
                              "{\"id\":\"" ID_A "\",\"debit\":\"" ID_B "\",\"credit\":\"" ID_C
                              "\",\"amount\":500,\"captured\":300,\"status\":\"captured\","
                              "\"deadline\":2,\"created_at\":1}");
    const struct step steps[] = {{STEP_DROP, NULL}, {STEP_REPLY, resolved}, {STEP_REPLY, hold}};
    struct fake f;
    REQUIRE_EQ_INT(fake_start(&f, steps, 3), 0);
    jz_client *c = fake_client(&f, 2, 2000);
    REQUIRE(c != NULL);
    jz_hold h;
    jz_error e;
    CHECK_EQ_INT(jz_hold_capture(c, ID_A, 300, &h, &e), 0);
    CHECK_EQ_STR(h.status, "captured");
    CHECK_EQ_INT(h.captured, 300);
    jz_client_free(c);
    fake_stop(&f);
    REQUIRE_EQ_INT(f.requests, 3);
    CHECK_EQ_STR(f.body[0], "{\"amount\":300}");
    CHECK_EQ_STR(f.body[1], "{\"amount\":300}");
    check_signed(&f, 1, "POST", "/v1/holds/" ID_A "/capture");
    check_signed(&f, 2, "GET", "/v1/holds/" ID_A);
}

TEST(sdk_history_query_and_batch_body)
{
    const char *page = answer(0, "200 OK", "{\"transfers\":[" TRANSFER_JSON(ID_A, "")
                                           "],\"next_cursor\":\"n2\"}");
    const char *batch = answer(1, "200 OK",
                               "{\"results\":[{\"id\":\"" ID_A "\",\"status\":\"posted\"},"
                               "{\"id\":\"" ID_B "\",\"error\":{\"code\":\"linked_failed\","
                               "\"message\":\"m\"}}]}");
    const struct step steps[] = {{STEP_REPLY, page}, {STEP_REPLY, batch}};
    struct fake f;
    REQUIRE_EQ_INT(fake_start(&f, steps, 2), 0);
    jz_client *c = fake_client(&f, 0, 2000);
    REQUIRE(c != NULL);
    jz_transfer items[5];
    size_t n = 0;
    char next[JZ_CURSOR_SIZE];
    jz_error e;
    CHECK_EQ_INT(jz_wallet_history(c, ID_C, 5, "a b/c", items, &n, next, &e), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_STR(next, "n2");
    jz_transfer_spec specs[2] = {
        {.id = ID_A, .debit = ID_B, .credit = ID_C, .amount = 1, .kind = "p2p", .linked = true},
        {.id = ID_B, .debit = ID_B, .credit = ID_C, .amount = 2, .kind = "p2p"},
    };
    jz_batch_result r[2];
    CHECK_EQ_INT(jz_transfer_batch(c, specs, 2, r, &e), 0);
    CHECK(r[0].posted);
    CHECK(!r[1].posted);
    CHECK_EQ_STR(r[1].error.code, "linked_failed");
    jz_client_free(c);
    fake_stop(&f);
    REQUIRE_EQ_INT(f.requests, 2);
    check_signed(&f, 0, "GET", "/v1/wallets/" ID_C "/transfers?limit=5&cursor=a%20b%2Fc");
    check_signed(&f, 1, "POST", "/v1/transfers/batch");
    CHECK_EQ_STR(f.body[1], "{\"transfers\":[{\"id\":\"" ID_A "\",\"debit\":\"" ID_B
                            "\",\"credit\":\"" ID_C "\",\"amount\":1,\"kind\":\"p2p\","
                            "\"linked\":true},{\"id\":\"" ID_B "\",\"debit\":\"" ID_B
                            "\",\"credit\":\"" ID_C "\",\"amount\":2,\"kind\":\"p2p\"}]}");
}

/* ---- arguments refused before anything is sent ---------------------------------------------- */

TEST(sdk_arguments_checked_before_sending)
{
    /* Port 9 (discard) is never contacted: every call below fails its argument check. */
    jz_client *c = jz_client_new("http://127.0.0.1:9", "k", KEY_HEX, NULL);
    REQUIRE(c != NULL);
    jz_error e;
    jz_wallet w;
    jz_transfer t;
    jz_hold h;
    CHECK_EQ_INT(jz_wallet_get(c, "../../etc", &w, &e), -1);
    CHECK_EQ_STR(e.code, "invalid_argument");
    CHECK_EQ_STR(e.field, "wallet_id");
    jz_transfer_spec s = {.debit = ID_A, .credit = ID_B, .amount = 0, .kind = "p2p"};
    CHECK_EQ_INT(jz_transfer_create(c, &s, &t, &e), -1);
    CHECK_EQ_STR(e.field, "amount");
    s.amount = JZ_AMOUNT_FEN_MAX + 1;
    CHECK_EQ_INT(jz_transfer_create(c, &s, &t, &e), -1);
    s.amount = 1;
    s.memo = "\xff\xfe not utf-8";
    CHECK_EQ_INT(jz_transfer_create(c, &s, &t, &e), -1);
    CHECK_EQ_STR(e.field, "memo");
    jz_transfer_spec items[2] = {s, s};
    items[0].memo = NULL;
    items[1].credit = "nope";
    jz_batch_result r[2];
    CHECK_EQ_INT(jz_transfer_batch(c, items, 2, r, &e), -1);
    CHECK_EQ_STR(e.field, "transfers[1].credit");
    CHECK_EQ_INT(jz_transfer_batch(c, items, 0, r, &e), -1);
    CHECK_EQ_INT(jz_transfer_batch(c, items, JZ_BATCH_ITEMS_MAX + 1, r, &e), -1);
    CHECK_EQ_INT(jz_hold_capture(c, ID_A, -5, &h, &e), -1);
    CHECK_EQ_INT(jz_quota_issue(c, NULL, "ICBC", 5, &t, &e), -1);
    CHECK_EQ_STR(e.field, "operator");
    CHECK_EQ_INT(jz_institution_get(c, "a/b", NULL, &e), -1);
    char next[JZ_CURSOR_SIZE];
    size_t n;
    CHECK_EQ_INT(jz_wallet_history(c, ID_A, 1001, NULL, &t, &n, next, &e), -1);
    CHECK_EQ_STR(e.field, "limit");
    jz_wallet_spec ws = {.kind = "personal", .tier = 1, .form = "soft", .parent = "x"};
    CHECK_EQ_INT(jz_wallet_open(c, &ws, &w, &e), -1);
    CHECK_EQ_STR(e.field, "parent");
    jz_client_free(c);
}

/* ---- a closed port ------------------------------------------------------------------------- */

TEST(sdk_closed_port_fails_clearly_after_retries)
{
    /* A port that was just bound and released: nothing listens there. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    REQUIRE(bind(s, (struct sockaddr *)&a, sizeof a) == 0);
    REQUIRE(getsockname(s, (struct sockaddr *)&a, &alen) == 0);
    close(s);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    jz_client *c = jz_client_new(url, "k", KEY_HEX, NULL);
    REQUIRE(c != NULL);
    REQUIRE_EQ_INT(jz_client_set_max_retries(c, 3), 0);
    jz_health h;
    memset(&h, 0x11, sizeof h);
    jz_error e;
    int64_t t0 = sdk_mono_ms();
    CHECK_EQ_INT(jz_healthz(c, &h, &e), -1);
    int64_t took = sdk_mono_ms() - t0;
    CHECK_EQ_STR(e.code, "connection_failed");
    CHECK_EQ_INT(e.http_status, 0);
    CHECK(strstr(e.message, "Connection refused") != NULL);
    CHECK(strstr(e.message, "after 4 attempts") != NULL);
    CHECK(strstr(e.message, url + 7) != NULL);
    /* Backoff 50, 100, 200 ms with jitter: 175-350 ms of waiting, never unbounded. */
    CHECK(took >= 150 && took < 3000);
    CHECK_EQ_INT((unsigned char)h.status[0], 0x11);
    CHECK_EQ_INT(jz_client_last_status(c), 0);
    jz_client_free(c);
}
