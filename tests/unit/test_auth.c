/*
 * test_auth.c: request authentication: every refusal in its order, the nonce cache (also
 * when full), rate limits, and a signature computed independently with the openssl CLI.
 */
#include <pthread.h>

#include "auth.h"
#include "test.h"

static const uint8_t secret[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const char key_hex[] = "00112233445566778899aabbccddeeff";

static auth *make_auth(uint32_t capacity, uint32_t rate)
{
    struct auth_config cfg = {.nonce_capacity = capacity, .rate_per_s = rate};
    auth *a = auth_new(&cfg);
    jz_id k;
    jz_id_from_hex(key_hex, 32, &k);
    if (a && auth_add_key(a, &k, secret, 3) != 0) {
        auth_free(a);
        return NULL;
    }
    return a;
}

struct signed_req {
    struct auth_request r;
    char ts[24];
    char nonce[80];
    char sig[65];
};

static void sign_req(struct signed_req *s, int64_t ts, const char *nonce, const char *body)
{
    memset(s, 0, sizeof *s);
    snprintf(s->ts, sizeof s->ts, "%lld", (long long)ts);
    snprintf(s->nonce, sizeof s->nonce, "%s", nonce);
    s->r.method = "POST";
    s->r.path_and_query = "/v1/transfers";
    s->r.key = key_hex;
    s->r.timestamp = s->ts;
    s->r.nonce = s->nonce;
    s->r.body = body;
    s->r.body_len = strlen(body);
    auth_sign(secret, "POST", "/v1/transfers", s->ts, s->nonce, body, strlen(body), s->sig);
    s->r.signature = s->sig;
}

static int check(auth *a, struct signed_req *s, int64_t now, struct api_error *e)
{
    int inst = -1;
    int retry = 0;
    memset(e, 0, sizeof *e);
    if (auth_check(a, &s->r, now, &inst, &retry, e) != 0) {
        return e->code;
    }
    return inst == 3 ? JZ_OK : -1;
}

TEST(auth_signature_matches_openssl_cli)
{
    /* printf 'POST\n/v1/transfers\n1700000000000\nabcdefghijklmnop\n%s' \
     *   "$(printf '{}' | openssl dgst -sm3 -r | cut -d' ' -f1)" |
     *   openssl dgst -sm3 -mac HMAC -macopt hexkey:0102...1f20 -r */
    char sig[65];
    REQUIRE(auth_sign(secret, "POST", "/v1/transfers", "1700000000000", "abcdefghijklmnop", "{}",
                      2, sig) == 0);
    CHECK_EQ_STR(sig, "9859a0259038c945b821a9cb0f0a753a3632c1b9d69cd7a892b44d923989d22b");
}

TEST(auth_accepts_and_refuses_in_order)
{
    auth *a = make_auth(1024, 0);
    REQUIRE(a != NULL);
    struct api_error e;
    struct signed_req s;
    int64_t now = 1700000000000;
    sign_req(&s, now, "nonce-0000000001", "{\"a\":1}");
    CHECK_EQ_INT(check(a, &s, now, &e), JZ_OK);
    CHECK_EQ_INT(check(a, &s, now, &e), JZ_REPLAYED_NONCE);
    CHECK_EQ_STR(e.field, "X-JZ-Nonce");
    sign_req(&s, now, "nonce-0000000002", "{\"a\":1}");
    s.r.key = NULL;
    CHECK_EQ_INT(check(a, &s, now, &e), JZ_UNAUTHENTICATED);
    CHECK_EQ_STR(e.field, "X-JZ-Key");
    s.r.key = "ffffffffffffffffffffffffffffffff";
    CHECK_EQ_INT(check(a, &s, now, &e), JZ_UNAUTHENTICATED);
    s.r.key = key_hex;
    s.r.nonce = "short";
    CHECK_EQ_INT(check(a, &s, now, &e), JZ_UNAUTHENTICATED);
    s.r.nonce = "bad nonce with spaces!";
    CHECK_EQ_INT(check(a, &s, now, &e), JZ_UNAUTHENTICATED);
    s.r.nonce = s.nonce;
    s.r.timestamp = "12x";
    CHECK_EQ_INT(check(a, &s, now, &e), JZ_UNAUTHENTICATED);
    s.r.timestamp = s.ts;
    CHECK_EQ_INT(check(a, &s, now + AUTH_WINDOW_MS + 1, &e), JZ_STALE_TIMESTAMP);
    CHECK_EQ_INT(check(a, &s, now - AUTH_WINDOW_MS - 1, &e), JZ_STALE_TIMESTAMP);
    s.r.body = "{\"a\":2}"; /* body changed after signing */
    CHECK_EQ_INT(check(a, &s, now, &e), JZ_BAD_SIGNATURE);
    s.r.body = "{\"a\":1}";
    s.r.path_and_query = "/v1/holds";
    CHECK_EQ_INT(check(a, &s, now, &e), JZ_BAD_SIGNATURE);
    s.r.path_and_query = "/v1/transfers";
    s.r.signature = "zz"; /* malformed: not 64 hex digits */
    CHECK_EQ_INT(check(a, &s, now, &e), JZ_UNAUTHENTICATED);
    s.r.signature = s.sig;
    /* Refused attempts did not burn the nonce: the genuine request still goes through, at the
     * edge of the window. */
    CHECK_EQ_INT(check(a, &s, now + AUTH_WINDOW_MS, &e), JZ_OK);
    auth_free(a);
}

TEST(auth_full_nonce_cache_never_lets_a_replay_through)
{
    auth *a = make_auth(64, 0);
    REQUIRE(a != NULL);
    struct api_error e;
    struct signed_req s;
    int64_t now = 1700000000000;
    char nonce[40];
    for (int i = 0; i < 200; i++) {
        snprintf(nonce, sizeof nonce, "nonce-%010d", i);
        sign_req(&s, now + i, nonce, "{}");
        CHECK_EQ_INT(check(a, &s, now + 200, &e), JZ_OK);
    }
    /* Every one of them replayed: either remembered (replayed_nonce) or older than the
     * low-water mark (stale); never accepted. */
    int accepted = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(nonce, sizeof nonce, "nonce-%010d", i);
        sign_req(&s, now + i, nonce, "{}");
        int code = check(a, &s, now + 200, &e);
        accepted += code == JZ_OK;
        CHECK(code == JZ_REPLAYED_NONCE || code == JZ_STALE_TIMESTAMP);
    }
    CHECK_EQ_INT(accepted, 0);
    /* Once the window has passed, old nonces expire and new requests are fine. */
    sign_req(&s, now + 2 * AUTH_WINDOW_MS, "fresh-nonce-000001", "{}");
    CHECK_EQ_INT(check(a, &s, now + 2 * AUTH_WINDOW_MS, &e), JZ_OK);
    auth_free(a);
}

TEST(auth_rate_limit_per_key)
{
    auth *a = make_auth(4096, 10); /* 10 a second, burst 10 */
    REQUIRE(a != NULL);
    struct api_error e;
    struct signed_req s;
    int64_t now = 1700000000000;
    char nonce[40];
    int ok = 0;
    int limited = 0;
    for (int i = 0; i < 30; i++) {
        snprintf(nonce, sizeof nonce, "rate-nonce-%06d", i);
        sign_req(&s, now, nonce, "{}");
        int code = check(a, &s, now, &e);
        ok += code == JZ_OK;
        limited += code == JZ_RATE_LIMITED;
    }
    CHECK_EQ_INT(ok, 10);
    CHECK_EQ_INT(limited, 20);
    sign_req(&s, now + 1000, "rate-nonce-later01", "{}");
    CHECK_EQ_INT(check(a, &s, now + 1000, &e), JZ_OK); /* refilled after a second */
    auth_free(a);
}

struct thread_arg {
    auth *a;
    int id;
    int ok;
};

static void *hammer(void *p)
{
    struct thread_arg *t = p;
    struct signed_req s;
    struct api_error e;
    char nonce[40];
    for (int i = 0; i < 2000; i++) {
        /* Threads share half their nonces: each must be accepted exactly once overall. */
        snprintf(nonce, sizeof nonce, "shared-%d-%08d", i % 2 ? t->id : 0, i);
        sign_req(&s, 1700000000000, nonce, "{}");
        t->ok += check(t->a, &s, 1700000000000, &e) == JZ_OK;
    }
    return NULL;
}

TEST(auth_concurrent_nonces_accepted_once)
{
    auth *a = make_auth(1 << 16, 0);
    REQUIRE(a != NULL);
    pthread_t th[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){.a = a, .id = i + 1};
        pthread_create(&th[i], NULL, hammer, &args[i]);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += args[i].ok;
    }
    /* 1000 shared even-numbered nonces once each, plus 1000 odd ones per thread. */
    CHECK_EQ_INT(total, 1000 + 4 * 1000);
    auth_free(a);
}
