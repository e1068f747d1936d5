/*
 * test_clearing_cli.c: `jiaozi clearing ...` against a real `jiaozi serve`: a cut-off, the
 * files downloaded and their signatures verified with node.pub (and refused with another
 * key), an institution's own item file uploaded as its record (no differences), an
 * adjustment refused without a reason then approved by two roles, a dispute rejected, and
 * usage errors.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "clearing_world.h"
#include "crypto.h"
#include "test.h"

/* Runs `jiaozi clearing ARGS` with the credentials file creds; its output (stdout and
 * stderr, through a file) into out. Returns the exit status. */
static int run_cli(const char *creds, const char *args, char *out, size_t len)
{
    const char *bin = getenv("JZ_BIN") ? getenv("JZ_BIN") : "build/jiaozi";
    char log[700];
    char cmd[3000];
    snprintf(log, sizeof log, "%s/cli.out", test_tmpdir());
    snprintf(cmd, sizeof cmd, "JZ_CREDENTIALS='%s' %s clearing %s >'%s' 2>&1", creds, bin, args,
             log);
    int status = system(cmd);
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(out, 1, len - 1, f) : 0;
    out[n] = '\0';
    if (f) {
        fclose(f);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int write_creds(const struct srv *s, const struct srv_creds *c, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        return -1;
    }
    fprintf(f, "{\"institution\":\"%s\",\"key_id\":\"%s\",\"secret\":\"%s\",\"url\":\"%s\"}\n",
            c->institution, c->key_id, c->secret, s->url);
    return fclose(f);
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) {
        n++;
    }
    return n;
}

static void cli_flow(struct cworld *cw)
{
    struct world *w = &cw->w;
    static char out[65536];
    char central[700], opa[700], opb[700], files[700], args[2048], pay[33], adj[33];
    char other_pub[700];
    snprintf(central, sizeof central, "%s/central.json", w->s.dir);
    snprintf(opa, sizeof opa, "%s/opa.json", test_tmpdir());
    snprintf(opb, sizeof opb, "%s/opb.json", test_tmpdir());
    snprintf(files, sizeof files, "%s/files", test_tmpdir());
    REQUIRE(write_creds(&w->s, &w->op, opa) == 0 && write_creds(&w->s, &w->op2, opb) == 0);
    REQUIRE(mkdir(files, 0700) == 0);
    REQUIRE_EQ_INT(cw_pay(cw, &w->op, cw->a, cw->mb, 5000, "payment", pay), 201);
    REQUIRE_EQ_INT(cw_pay(cw, &w->op2, cw->b, cw->ma, 700, "payment", NULL), 201);
    CHECK_EQ_INT(run_cli(opa, "cutoff", out, sizeof out), 1); /* central's */
    CHECK(strstr(out, "forbidden") != NULL);
    REQUIRE_EQ_INT(run_cli(central, "cutoff", out, sizeof out), 0);
    CHECK(strstr(out, "\"cycle\":1,") != NULL);
    snprintf(args, sizeof args, "files 1 --out %s --verify %s/node.pub", files, w->s.dir);
    REQUIRE_EQ_INT(run_cli(opa, args, out, sizeof out), 0);
    CHECK_EQ_INT(count(out, "signature verified"), 3);
    /* Another key does not verify them. */
    crypto_sm2_key *k = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    REQUIRE(crypto_sm2_generate(&k) == 0 && crypto_sm2_public_pem(k, &pem, &pem_len) == 0);
    snprintf(other_pub, sizeof other_pub, "%s/other.pub", test_tmpdir());
    FILE *f = fopen(other_pub, "w");
    REQUIRE(f != NULL);
    fwrite(pem, 1, pem_len, f);
    fclose(f);
    free(pem);
    crypto_sm2_free(k);
    snprintf(args, sizeof args, "files 1 --out %s --verify %s", files, other_pub);
    CHECK_EQ_INT(run_cli(opa, args, out, sizeof out), 1);
    CHECK(strstr(out, "does NOT verify") != NULL);
    /* opa's own item file as its record: nothing differs. */
    snprintf(args, sizeof args, "reconcile 1 --file %s/opa.items.csv", files);
    REQUIRE_EQ_INT(run_cli(opa, args, out, sizeof out), 0);
    CHECK(strstr(out, "\"counts\":{\"missing_here\":0,\"missing_there\":0,\"amount_mismatch\":0,"
                      "\"duplicate\":0},\"matched\":2") != NULL);
    CHECK_EQ_INT(run_cli(opa, "report 1", out, sizeof out), 0);
    /* An adjustment: refused without a reason; then two roles post it. */
    snprintf(args, sizeof args, "adjust --debit %s --credit %s --amount 5", cw->b, cw->ma);
    CHECK_EQ_INT(run_cli(opa, args, out, sizeof out), 1);
    CHECK(strstr(out, "missing_field") && strstr(out, "reason"));
    srv_new_id(adj);
    snprintf(args, sizeof args,
             "adjust --id %s --debit %s --credit %s --amount 5 --reason "
             "'short by 5 fen' --cycle 1",
             adj, cw->b, cw->ma);
    REQUIRE_EQ_INT(run_cli(opa, args, out, sizeof out), 0);
    snprintf(args, sizeof args, "approve %s", adj);
    CHECK_EQ_INT(run_cli(opa, args, out, sizeof out), 0);
    CHECK(strstr(out, "\"status\":\"pending\"") != NULL);
    CHECK_EQ_INT(run_cli(central, args, out, sizeof out), 0);
    CHECK(strstr(out, "\"status\":\"posted\"") != NULL);
    /* A dispute, rejected by the merchant's side. */
    snprintf(args, sizeof args, "dispute --cycle 1 --transfer %s --reason 'not received'", pay);
    REQUIRE_EQ_INT(run_cli(opa, args, out, sizeof out), 0);
    char disp[33];
    REQUIRE(srv_json_str(out, "id", disp, sizeof disp) == 0);
    snprintf(args, sizeof args, "dispute reject %s --reason 'delivered on the 3rd'", disp);
    CHECK_EQ_INT(run_cli(opb, args, out, sizeof out), 0);
    CHECK(strstr(out, "\"status\":\"rejected\"") != NULL);
    /* Settings and usage errors. */
    CHECK_EQ_INT(run_cli(central, "schedule --every-ms 10", out, sizeof out), 1);
    CHECK_EQ_INT(run_cli(central, "schedule --daily-at 23:30", out, sizeof out), 0);
    CHECK(strstr(out, "\"daily_at\":\"23:30\"") != NULL);
    CHECK_EQ_INT(run_cli(central, "schedule --off", out, sizeof out), 0);
    CHECK_EQ_INT(run_cli(opa, "show", out, sizeof out), 0);
    CHECK(strstr(out, "\"cycles\":[") != NULL);
    CHECK_EQ_INT(run_cli(opa, "fees", out, sizeof out), 0);
    CHECK_EQ_INT(run_cli(opa, "show zero", out, sizeof out), 2);
    CHECK_EQ_INT(run_cli(opa, "approve nothex", out, sizeof out), 2);
    CHECK_EQ_INT(run_cli(opa, "explode", out, sizeof out), 2);
    CHECK_EQ_INT(run_cli(opa, "show --bogus 1", out, sizeof out), 2);
}

TEST(clearing_cli_drives_cutoff_files_reconciliation_and_adjustments)
{
    cw_run(cli_flow);
}
