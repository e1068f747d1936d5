/*
 * test_api_tools.c: outside tools accept what the server publishes: `promtool check metrics`
 * (Debian's prometheus package) accepts /metrics, and a real OpenAPI validator from the npm
 * registry (tests/openapi) accepts /v1/openapi.json as served.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "server.h"
#include "test.h"

static int write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        return -1;
    }
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

static int run(const char *cmd)
{
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(api_metrics_pass_promtool_and_openapi_passes_validator)
{
    struct srv s;
    char dir[512];
    char path[700];
    char cmd[1600];
    snprintf(dir, sizeof dir, "%s/node", test_tmpdir());
    REQUIRE(srv_start(&s, dir, NULL) == 0);
    /* Some traffic first, so histograms and counters have samples. */
    CHECK_EQ_INT(srv_call(&s, &s.central, "POST", "/v1/institutions",
                          "{\"id\":\"opa\",\"name\":\"A\",\"kind\":\"operator\"}", NULL), 201);
    CHECK_EQ_INT(srv_call(&s, &s.central, "GET", "/v1/institutions", NULL, NULL), 200);
    CHECK_EQ_INT(srv_call(&s, NULL, "GET", "/v1/institutions", NULL, NULL), 401);
    struct srv_response r;
    REQUIRE_EQ_INT(srv_call(&s, NULL, "GET", "/metrics", NULL, &r), 200);
    snprintf(path, sizeof path, "%s/metrics.txt", test_tmpdir());
    REQUIRE(write_file(path, r.body, r.body_len) == 0);
    srv_response_free(&r);
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    CHECK_EQ_INT(run(cmd), 0);
    REQUIRE_EQ_INT(srv_call(&s, NULL, "GET", "/v1/openapi.json", NULL, &r), 200);
    snprintf(path, sizeof path, "%s/openapi.json", test_tmpdir());
    REQUIRE(write_file(path, r.body, r.body_len) == 0);
    srv_response_free(&r);
    snprintf(cmd, sizeof cmd, "node tests/openapi/validate.mjs %s", path);
    CHECK_EQ_INT(run(cmd), 0);
    CHECK_EQ_INT(srv_stop(&s, SIGTERM), 0);
}
