/*
 * test_cli.c: the `jiaozi` binary as a user runs it (JZ_BIN, set by `make test`): init,
 * demo, audit verify (and that it catches a changed byte), snapshot, bench's JSON, and
 * clear errors for bad arguments.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* Runs `jiaozi ARGS` with output captured into out (NUL-terminated); returns the exit
 * status, or -1 when the binary is not available. */
static int run_cli(const char *args, char *out, size_t out_len)
{
    const char *bin = getenv("JZ_BIN");
    if (!bin) {
        bin = "build/jiaozi";
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    if (!p) {
        return -1;
    }
    size_t n = fread(out, 1, out_len - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char out[65536];

TEST(cli_demo_then_audit_verify)
{
    char args[1024];
    snprintf(args, sizeof args,
             "demo --data %s/d --listen 127.0.0.1:0 --wallets 300 --payments 2000", test_tmpdir());
    REQUIRE_EQ_INT(run_cli(args, out, sizeof out), 0);
    CHECK(strstr(out, "conservation                 ok") != NULL);
    CHECK(strstr(out, "journal verified") != NULL);
    /* Every payment answered; the few refused are the over-limit ones and, depending on the
     * order the four clients' batches land in, a payer that ran dry. */
    long posted = -1, refused = -1;
    const char *p = strstr(out, "payments                     ");
    REQUIRE(p != NULL);
    CHECK(sscanf(p + 29, "%ld posted, %ld refused", &posted, &refused) == 2);
    CHECK_EQ_INT(posted + refused, 2000);
    CHECK(posted >= 1900);
    /* Four pairs of hard wallets (and a victim of the clone), three offline payments a pair,
     * and a cloned card caught. */
    CHECK(strstr(out, "9 issued; 13 offline vouchers accepted, 12 settled, 1 double spend caught") !=
          NULL);
    snprintf(args, sizeof args, "audit verify %s/d", test_tmpdir());
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    CHECK(strstr(out, "journal ok:") != NULL);
    CHECK(strstr(out, "head seq") != NULL);
    /* Running the demo again replays the same ids: nothing is applied twice (conservation
     * checks the issued total against the operators' quota, so a doubled issue would fail). */
    snprintf(args, sizeof args,
             "demo --data %s/d --listen 127.0.0.1:0 --wallets 300 --payments 2000", test_tmpdir());
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    CHECK(strstr(out, "conservation                 ok") != NULL);
}

TEST(cli_audit_verify_detects_a_changed_byte)
{
    char args[1024];
    char path[1024];
    snprintf(args, sizeof args,
             "demo --data %s/d --listen 127.0.0.1:0 --wallets 100 --payments 100", test_tmpdir());
    REQUIRE_EQ_INT(run_cli(args, out, sizeof out), 0);
    snprintf(path, sizeof path, "%s/d/journal/00000000000000000001.seg", test_tmpdir());
    int fd = open(path, O_RDWR);
    REQUIRE(fd >= 0);
    uint8_t b;
    REQUIRE(pread(fd, &b, 1, 300) == 1); /* inside the first records */
    b ^= 1;
    REQUIRE(pwrite(fd, &b, 1, 300) == 1);
    close(fd);
    snprintf(args, sizeof args, "audit verify %s/d", test_tmpdir());
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 1);
    CHECK(strstr(out, "FAULT") != NULL);
    CHECK(strstr(out, "00000000000000000001.seg") != NULL);
    CHECK(strstr(out, "offset") != NULL);
    /* The node refuses to start on it, naming file and offset, rather than repair it. */
    snprintf(args, sizeof args, "snapshot --data %s/d", test_tmpdir());
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 1);
    CHECK(strstr(out, "offset") != NULL);
}

TEST(cli_snapshot_and_init_errors)
{
    char args[1024];
    snprintf(args, sizeof args, "init --data %s/n --wallets 1000", test_tmpdir());
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 1);
    CHECK(strstr(out, "already") != NULL);
    snprintf(args, sizeof args, "snapshot --data %s/n", test_tmpdir());
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    CHECK(strstr(out, "snapshot written") != NULL);
    CHECK_EQ_INT(run_cli("init --data", out, sizeof out), 2);
    CHECK_EQ_INT(run_cli("init --data /tmp/x --wallets lots", out, sizeof out), 2);
    CHECK(strstr(out, "whole number") != NULL);
    CHECK_EQ_INT(run_cli("init --bogus 1", out, sizeof out), 2);
    CHECK(strstr(out, "unknown option") != NULL);
    CHECK_EQ_INT(run_cli("frobnicate", out, sizeof out), 2);
    snprintf(args, sizeof args, "snapshot --data %s/nothing", test_tmpdir());
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 1);
    CHECK(strstr(out, "jiaozi init") != NULL);
    CHECK_EQ_INT(run_cli("audit verify /nonexistent", out, sizeof out), 1);
    CHECK_EQ_INT(run_cli("--help", out, sizeof out), 0);
    CHECK(strstr(out, "audit verify") != NULL);
}

TEST(cli_bench_prints_its_figures)
{
    char args[1024];
    snprintf(args, sizeof args, "bench ledger --wallets 2000 --transfers 50000 --batch 1000 "
                                "--json --dir %s", test_tmpdir());
    REQUIRE_EQ_INT(run_cli(args, out, sizeof out), 0);
    static const char *const fields[] = {"\"transfers_per_s\":", "\"batch_p50_ms\":",
                                         "\"batch_p99_ms\":", "\"journal_bytes_per_transfer\":",
                                         "\"rss_bytes_per_wallet\":", "\"conservation\":\"ok\""};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        CHECK(strstr(out, fields[i]) != NULL);
    }
    CHECK(strstr(out, "\"ok\":50000") != NULL);
}
