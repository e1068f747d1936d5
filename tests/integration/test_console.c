/*
 * test_console.c: the web console's server side through a real `jiaozi serve`: its files and
 * their security headers, sign-in (wrong credentials refused, rate-limited), the session
 * cookie's flags, the /v1 routes driven with the cookie, CSRF refusals that change nothing,
 * sign-out, and the live statistics. The browser side is tests/console (Playwright).
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server.h"
#include "world.h"
#include "test.h"

/* POST /console/login; returns the status and copies the cookie's value and the CSRF token. */
static int login(struct world *w, const struct srv_creds *c, char cookie[80], char csrf[40])
{
    char body[256];
    snprintf(body, sizeof body, "{\"key_id\":\"%s\",\"secret\":\"%s\"}", c->key_id, c->secret);
    struct srv_req q = {.method = "POST", .path = "/console/login", .body = body};
    struct srv_response r;
    if (srv_send(&w->s, &q, &r) != 0) {
        return -1;
    }
    int status = r.status;
    cookie[0] = csrf[0] = '\0';
    const char *sc = strcasestr(r.headers, "Set-Cookie: jz_session=");
    if (sc) {
        sscanf(sc + 12, "%79[^;]", cookie);
    }
    srv_json_str(r.body, "csrf", csrf, 40);
    srv_response_free(&r);
    return status;
}

/* A request with the cookie (and the CSRF token when csrf is not NULL), no signature. */
static int with_cookie(struct world *w, const char *cookie, const char *csrf, const char *method,
                       const char *path, const char *body, struct srv_response *out)
{
    char extra[256];
    int n = snprintf(extra, sizeof extra, "Cookie: %s\r\n", cookie);
    if (csrf) {
        snprintf(extra + n, sizeof extra - (size_t)n, "X-CSRF-Token: %s\r\n", csrf);
    }
    struct srv_req q = {.method = method, .path = path, .body = body, .extra_headers = extra};
    struct srv_response r;
    if (srv_send(&w->s, &q, &r) != 0) {
        return -1;
    }
    int status = r.status;
    if (out) {
        *out = r;
    } else {
        srv_response_free(&r);
    }
    return status;
}

TEST(console_serves_its_files_with_security_headers)
{
    struct world w;
    REQUIRE(world_start(&w) == 0);
    struct srv_req q = {.method = "GET", .path = "/"};
    struct srv_response r;
    REQUIRE(srv_send(&w.s, &q, &r) == 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strcasestr(r.headers, "Content-Type: text/html") != NULL);
    CHECK(strcasestr(r.headers, "Content-Security-Policy: default-src 'self'") != NULL);
    CHECK(strcasestr(r.headers, "X-Frame-Options: DENY") != NULL);
    CHECK(strstr(r.body, "/console/app.js") != NULL);
    srv_response_free(&r);
    const char *files[] = {"/console/app.js", "/console/app.css", "/console/uPlot.iife.min.js",
                           "/console/uPlot.min.css"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        q.path = files[i];
        REQUIRE(srv_send(&w.s, &q, &r) == 0);
        CHECK_EQ_INT(r.status, 200);
        CHECK(r.body_len > 100);
        srv_response_free(&r);
    }
    q.path = "/console/nope.js";
    REQUIRE(srv_send(&w.s, &q, &r) == 0);
    CHECK_EQ_INT(r.status, 404);
    srv_response_free(&r);
    /* The console's data routes are not public. */
    q.path = "/console/stats";
    REQUIRE(srv_send(&w.s, &q, &r) == 0);
    CHECK_EQ_INT(r.status, 401);
    srv_response_free(&r);
    srv_stop(&w.s, SIGTERM);
}

TEST(console_sign_in_session_and_csrf)
{
    struct world w;
    REQUIRE(world_start(&w) == 0);
    char cookie[80], csrf[40], wallet[33], path[128];
    struct srv_response r;
    REQUIRE_EQ_INT(open_wallet(&w, &w.op, 2, wallet), 201);

    /* Wrong secret, unknown key, malformed body: refused, no cookie. */
    struct srv_creds bad = w.op;
    bad.secret[0] = bad.secret[0] == '0' ? '1' : '0';
    CHECK_EQ_INT(login(&w, &bad, cookie, csrf), 401);
    CHECK(cookie[0] == '\0');
    struct srv_req q = {.method = "POST", .path = "/console/login", .body = "{\"key_id\":1}"};
    REQUIRE(srv_send(&w.s, &q, &r) == 0);
    CHECK_EQ_INT(r.status, 400);
    srv_response_free(&r);

    /* The right ones: a cookie that scripts cannot read and other sites do not send. */
    struct srv_req ok = {.method = "POST", .path = "/console/login"};
    char body[256];
    snprintf(body, sizeof body, "{\"key_id\":\"%s\",\"secret\":\"%s\"}", w.op.key_id, w.op.secret);
    ok.body = body;
    REQUIRE(srv_send(&w.s, &ok, &r) == 0);
    REQUIRE_EQ_INT(r.status, 200);
    CHECK(strcasestr(r.headers, "HttpOnly") && strcasestr(r.headers, "SameSite=Strict"));
    CHECK(strstr(r.body, w.op.secret) == NULL);
    srv_response_free(&r);
    REQUIRE_EQ_INT(login(&w, &w.op, cookie, csrf), 200);
    REQUIRE(strlen(csrf) == 32);

    /* Reads with the cookie alone; the operator sees its own wallet, not the other's. */
    snprintf(path, sizeof path, "/v1/wallets/%s", wallet);
    CHECK_EQ_INT(with_cookie(&w, cookie, NULL, "GET", path, NULL, NULL), 200);
    REQUIRE_EQ_INT(with_cookie(&w, cookie, NULL, "GET", "/console/session", NULL, &r), 200);
    CHECK(strstr(r.body, csrf) != NULL && strstr(r.body, "\"institution\":\"opa\"") != NULL);
    srv_response_free(&r);

    /* A change without the CSRF token, or with a wrong one: 403, and the wallet is unchanged. */
    const char *freeze = "{\"status\":\"frozen\"}";
    CHECK_EQ_INT(with_cookie(&w, cookie, NULL, "PATCH", path, freeze, NULL), 403);
    CHECK_EQ_INT(with_cookie(&w, cookie, "0123456789abcdef0123456789abcdef", "PATCH", path, freeze,
                             NULL), 403);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, &r), 200);
    CHECK(strstr(r.body, "\"status\":\"active\"") != NULL);
    srv_response_free(&r);
    /* With it: frozen. */
    CHECK_EQ_INT(with_cookie(&w, cookie, csrf, "PATCH", path, freeze, NULL), 200);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, &r), 200);
    CHECK(strstr(r.body, "\"status\":\"frozen\"") != NULL);
    srv_response_free(&r);

    /* A made-up session id is no session. */
    CHECK_EQ_INT(with_cookie(&w, "jz_session=00000000000000000000000000000000000000000000000000"
                                 "00000000000000", NULL, "GET", path, NULL, NULL), 401);
    /* Sign-out ends the session. */
    CHECK_EQ_INT(with_cookie(&w, cookie, csrf, "POST", "/console/logout", NULL, NULL), 200);
    CHECK_EQ_INT(with_cookie(&w, cookie, NULL, "GET", path, NULL, NULL), 401);
    srv_stop(&w.s, SIGTERM);
}

TEST(console_stats_and_failed_sign_ins_are_limited)
{
    struct world w;
    REQUIRE(world_start(&w) == 0);
    char cookie[80], csrf[40], wallet[33], tid[33];
    struct srv_response r;
    REQUIRE_EQ_INT(login(&w, &w.s.central, cookie, csrf), 200);
    REQUIRE_EQ_INT(open_wallet(&w, &w.op, 3, wallet), 201);
    srv_new_id(tid);
    REQUIRE_EQ_INT(transfer(&w, &w.op, tid, w.treasury, wallet, 12345, "exchange_in", NULL), 201);
    REQUIRE_EQ_INT(with_cookie(&w, cookie, NULL, "GET", "/console/stats", NULL, &r), 200);
    /* Both operators got 100,000,000 fen of quota; the wallet holds 12,345 of opa's. */
    CHECK_EQ_INT(srv_json_int(r.body, "issued"), 200000000);
    CHECK(strstr(r.body, "{\"operator\":\"opa\",\"tier\":3,\"wallets\":1,\"balance\":12345}") != NULL);
    srv_response_free(&r);
    char q[64];
    snprintf(q, sizeof q, "/console/wallets?q=%.6s", wallet);
    REQUIRE_EQ_INT(with_cookie(&w, cookie, NULL, "GET", q, NULL, &r), 200);
    CHECK(strstr(r.body, wallet) != NULL);
    srv_response_free(&r);
    CHECK_EQ_INT(with_cookie(&w, cookie, NULL, "GET", "/console/wallets?q=XYZ", NULL, NULL), 400);

    /* Guessing: after CONSOLE_LOGIN_FAILURES_PER_S failures in a second, 429. */
    struct srv_creds bad = w.op;
    bad.secret[1] = bad.secret[1] == '0' ? '1' : '0';
    int limited = 0;
    for (int i = 0; i < 30; i++) {
        limited += login(&w, &bad, cookie, csrf) == 429;
    }
    CHECK(limited > 0);
    srv_stop(&w.s, SIGTERM);
}

/* Pays back and forth between two wallets until killed: the console's live numbers move. */
static void pay_forever(struct world *w, const char *a, const char *b)
{
    char tid[33];
    for (int i = 0; i < 2400; i++) {
        srv_new_id(tid);
        transfer(w, &w->op, tid, i % 2 ? a : b, i % 2 ? b : a, 1, "p2p", NULL);
        usleep(25000);
    }
    _exit(0);
}

TEST(console_in_a_real_browser)
{
    struct world w;
    REQUIRE(world_start(&w) == 0);
    char a[33], b[33], tid[33];
    REQUIRE_EQ_INT(open_wallet(&w, &w.op, 2, a), 201);
    REQUIRE_EQ_INT(open_wallet(&w, &w.op, 2, b), 201);
    srv_new_id(tid);
    REQUIRE_EQ_INT(transfer(&w, &w.op, tid, w.treasury, a, 100000, "exchange_in", NULL), 201);
    /* The demo's pilot on the same node: laundering patterns the detectors flag, and a cloned
     * hard wallet caught double spending. */
    char cmd[2400], cfg[1400], path[600];
    snprintf(cmd, sizeof cmd,
             "%s demo --url http://127.0.0.1:%d --central %s/central.json --data %s/pilot "
             "--wallets 300 --payments 500 > %s/demo.out 2>&1",
             getenv("JZ_BIN") ? getenv("JZ_BIN") : "build/jiaozi", w.s.port, w.s.dir,
             test_tmpdir(), test_tmpdir());
    REQUIRE_EQ_INT(system(cmd), 0);
    pid_t payer = fork();
    REQUIRE(payer >= 0);
    if (payer == 0) {
        pay_forever(&w, a, b);
    }
    snprintf(cfg, sizeof cfg,
             "{\"url\":\"http://127.0.0.1:%d\",\"alt_url\":\"http://localhost:%d\","
             "\"central\":{\"key_id\":\"%s\",\"secret\":\"%s\"},"
             "\"op\":{\"key_id\":\"%s\",\"secret\":\"%s\"},\"wallet\":\"%s\","
             "\"shots\":\"test-artifacts/console\"}",
             w.s.port, w.s.port, w.s.central.key_id, w.s.central.secret, w.op.key_id, w.op.secret,
             a);
    snprintf(path, sizeof path, "%s/console.json", test_tmpdir());
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs(cfg, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "node tests/console/console.mjs %s", path);
    int rc = system(cmd);
    kill(payer, SIGKILL);
    waitpid(payer, NULL, 0);
    CHECK_EQ_INT(rc, 0);
    srv_stop(&w.s, SIGTERM);
}
