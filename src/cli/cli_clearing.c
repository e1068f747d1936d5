/*
 * cli_clearing.c: `jiaozi clearing ...`: the clearing routes from the command line, through
 * the C SDK (jz_request) like the other client commands, and `clearing bench`
 * (cli_clearing_bench.c). Answers are printed as the API's JSON, one line each; files are
 * written to disk and, with --verify, their SM2 signatures checked with the node's public key.
 * Exit status: 0 success, 1 API, connection or verification error, 2 usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_clearing.h"
#include "crypto.h"
#include "jiaozi.h"
#include "json.h"

static const char help[] =
    "usage: jiaozi clearing VERB [options]   (docs/clearing.md)\n"
    "  cutoff                              close the open cycle now (central)\n"
    "  show [CYCLE] [--limit N] [--before CYCLE]   a cycle, or the list of cycles\n"
    "  files CYCLE [--institution ID] [--out DIR] [--verify node.pub]\n"
    "                                      download ID.csv, ID.json, ID.items.csv and their\n"
    "                                      .sig files; check each signature with node.pub\n"
    "  reconcile CYCLE --file RECORD       upload a record: JSON {\"items\":[...]} or CSV lines\n"
    "                                      id,pay|receive,amount (or an items.csv's I lines)\n"
    "  report CYCLE [--institution ID]     the latest reconciliation report\n"
    "  adjust --debit W --credit W --amount FEN --reason TEXT [--id ID] [--ref R] [--cycle N]\n"
    "  approve ADJUSTMENT                  approve an adjustment (two roles post it)\n"
    "  adjustment ADJUSTMENT               show an adjustment\n"
    "  dispute --cycle N --transfer T --reason TEXT [--amount FEN] [--id ID]\n"
    "  dispute accept|reject|show DISPUTE [--reason TEXT]\n"
    "  fees [--set FILE]                   the fee schedule (set: central)\n"
    "  schedule [--every-ms N] [--daily-at HH:MM] [--off]   scheduled cut-offs (set: central)\n"
    "  bench [...]                         clearing a cycle of 10,000,000 payments (--help)\n"
    "  --credentials FILE   institution credentials (else $JZ_CREDENTIALS, else\n"
    "                       ./jiaozi-data/central.json)\n";

struct cmd {
    int argc;
    char **argv;
    jz_client *client;
};

static int usage(const char *what)
{
    fprintf(stderr, "jiaozi clearing: %s (see jiaozi clearing --help)\n", what);
    return 2;
}

static jz_client *client(struct cmd *c)
{
    if (c->client) {
        return c->client;
    }
    const char *path = cli_opt(c->argc, c->argv, "--credentials");
    path = path ? path : getenv("JZ_CREDENTIALS");
    path = path && path[0] ? path : "./jiaozi-data/central.json";
    jz_error e;
    c->client = jz_client_from_file(path, &e);
    if (!c->client) {
        fprintf(stderr, "jiaozi clearing: credentials %s: %s: %s\n", path, e.code, e.message);
    }
    return c->client;
}

/* One request; prints the answer (as text when print) and returns the exit status. */
static int call(struct cmd *c, const char *method, const char *path, const char *body, bool print)
{
    const char *resp = NULL;
    jz_error e;
    if (!client(c)) {
        return 1;
    }
    if (jz_request(c->client, method, path, body, &resp, NULL, &e) != 0) {
        fprintf(stderr, "jiaozi clearing: %s", e.code);
        if (e.http_status) {
            fprintf(stderr, " (HTTP %d)", e.http_status);
        }
        fprintf(stderr, ": %s%s%s%s\n", e.message, e.field[0] ? " [field " : "",
                e.field[0] ? e.field : "", e.field[0] ? "]" : "");
        return 1;
    }
    if (print) {
        printf("%s\n", resp);
    }
    return 0;
}

/* The positional argument after the verb (not an option), or NULL. */
static const char *positional(const struct cmd *c, int i)
{
    return i < c->argc && strncmp(c->argv[i], "--", 2) != 0 ? c->argv[i] : NULL;
}

static bool is_cycle(const char *s)
{
    return s && s[0] >= '1' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s) &&
           strlen(s) <= 18;
}

/* ---- Cycles ---- */

static int do_cutoff(struct cmd *c)
{
    return call(c, "POST", "/v1/clearing/cutoff", NULL, true);
}

static int do_show(struct cmd *c)
{
    char path[160];
    const char *cycle = positional(c, 1);
    if (cycle) {
        if (!is_cycle(cycle)) {
            return usage("CYCLE is a number from 1");
        }
        snprintf(path, sizeof path, "/v1/clearing/cycles/%s", cycle);
    } else {
        uint64_t limit = cli_opt_u64(c->argc, c->argv, "--limit", 20, 100);
        uint64_t before = cli_opt_u64(c->argc, c->argv, "--before", 0, INT64_MAX);
        snprintf(path, sizeof path, "/v1/clearing/cycles?limit=%llu", (unsigned long long)limit);
        if (before) {
            snprintf(path + strlen(path), sizeof path - strlen(path), "&before=%llu",
                     (unsigned long long)before);
        }
    }
    return call(c, "GET", path, NULL, true);
}

static crypto_sm2_key *load_pub(const char *path)
{
    FILE *f = fopen(path, "r");
    char pem[4096];
    if (!f) {
        fprintf(stderr, "jiaozi clearing: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t n = fread(pem, 1, sizeof pem, f);
    fclose(f);
    crypto_sm2_key *k = NULL;
    if (crypto_sm2_load_public_pem(pem, n, &k) != 0) {
        fprintf(stderr, "jiaozi clearing: %s: not an SM2 public key\n", path);
        return NULL;
    }
    return k;
}

static int save(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "jiaozi clearing: %s: %s\n", path, strerror(errno));
        if (f) {
            fclose(f);
        }
        return -1;
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* Downloads one file and its signature into dir; verifies it when pub is given. */
static int fetch_file(struct cmd *c, const char *cycle, const char *name, const char *dir,
                      crypto_sm2_key *pub)
{
    char path[256];
    char out[2048];
    const char *resp = NULL;
    size_t len = 0;
    jz_error e;
    snprintf(path, sizeof path, "/v1/clearing/cycles/%s/files/%s.sig", cycle, name);
    if (jz_request(c->client, "GET", path, NULL, &resp, &len, &e) != 0) {
        fprintf(stderr, "jiaozi clearing: %s.sig: %s: %s\n", name, e.code, e.message);
        return 1;
    }
    uint8_t sig[CRYPTO_SM2_SIG_MAX];
    size_t sig_len = len < sizeof sig ? len : sizeof sig;
    memcpy(sig, resp, sig_len);
    snprintf(out, sizeof out, "%s/%s.sig", dir, name);
    if (save(out, sig, sig_len) != 0) {
        return 1;
    }
    path[strlen(path) - 4] = '\0';
    if (jz_request(c->client, "GET", path, NULL, &resp, &len, &e) != 0) {
        fprintf(stderr, "jiaozi clearing: %s: %s: %s\n", name, e.code, e.message);
        return 1;
    }
    snprintf(out, sizeof out, "%s/%s", dir, name);
    if (save(out, resp, len) != 0) {
        return 1;
    }
    if (pub && crypto_sm2_verify(pub, resp, len, sig, sig_len) != 0) {
        fprintf(stderr, "jiaozi clearing: %s: the signature does NOT verify\n", out);
        return 1;
    }
    printf("%s  %zu bytes%s\n", out, len, pub ? "  signature verified" : "");
    return 0;
}

static int do_files(struct cmd *c)
{
    const char *cycle = positional(c, 1);
    if (!is_cycle(cycle)) {
        return usage("files takes a CYCLE number");
    }
    const char *dir = cli_opt(c->argc, c->argv, "--out");
    const char *pubpath = cli_opt(c->argc, c->argv, "--verify");
    if (!client(c)) {
        return 1;
    }
    const char *inst = cli_opt(c->argc, c->argv, "--institution");
    inst = inst ? inst : jz_client_institution(c->client);
    if (!inst[0] || strlen(inst) > 16 ||
        strspn(inst, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(inst)) {
        return usage("--institution is an institution id");
    }
    crypto_sm2_key *pub = pubpath ? load_pub(pubpath) : NULL;
    if (pubpath && !pub) {
        return 1;
    }
    static const char *const exts[] = {"csv", "json", "items.csv"};
    int rc = 0;
    for (size_t i = 0; i < JZ_ARRAY_LEN(exts) && rc == 0; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%s", inst, exts[i]);
        rc = fetch_file(c, cycle, name, dir ? dir : ".", pub);
    }
    crypto_sm2_free(pub);
    return rc;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "jiaozi clearing: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16;
    size_t n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) {
            break;
        }
        char *more = realloc(buf, cap * 2);
        if (!more) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = more;
        cap *= 2;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

/* A CSV record (id,direction,amount, or an item file's I lines) as the upload's JSON. */
static int csv_record(const char *text, struct jbuf *b)
{
    int line = 0;
    int items = 0;
    jb_lit(b, "{\"items\":[");
    for (const char *p = text; *p; line++) {
        size_t n = strcspn(p, "\r\n");
        char row[512];
        if (n >= sizeof row) {
            fprintf(stderr, "jiaozi clearing: line %d is too long\n", line + 1);
            return -1;
        }
        memcpy(row, p, n);
        row[n] = '\0';
        p += n;
        p += strspn(p, "\r\n");
        char *f[12];
        int nf = 0;
        for (char *s = row; nf < 12; nf++) {
            f[nf] = s;
            s = strchr(s, ',');
            if (!s) {
                nf++;
                break;
            }
            *s++ = '\0';
        }
        bool item_line = nf >= 8 && strcmp(f[0], "I") == 0;
        if (!item_line && (nf != 3 || strlen(f[0]) != 32)) {
            continue; /* headers, totals and other record types */
        }
        const char *id = item_line ? f[1] : f[0];
        const char *dir = item_line ? f[5] : f[1];
        const char *amount = item_line ? f[7] : f[2];
        if (strspn(amount, "0123456789") != strlen(amount) || !amount[0]) {
            fprintf(stderr, "jiaozi clearing: line %d: the amount is not a number\n", line + 1);
            return -1;
        }
        jb_lit(b, items++ ? ",{\"id\":" : "{\"id\":");
        jb_cstr(b, id);
        jb_lit(b, ",\"direction\":");
        jb_cstr(b, dir);
        jb_lit(b, ",\"amount\":");
        jb_lit(b, amount);
        jb_lit(b, "}");
    }
    jb_lit(b, "]}");
    return b->failed ? -1 : 0;
}

static int do_reconcile(struct cmd *c)
{
    const char *cycle = positional(c, 1);
    const char *file = cli_opt(c->argc, c->argv, "--file");
    if (!is_cycle(cycle) || !file) {
        return usage("reconcile takes a CYCLE number and --file RECORD");
    }
    size_t len = 0;
    char *text = read_all(file, &len);
    if (!text) {
        return 1;
    }
    struct jbuf b;
    jb_init(&b);
    size_t lead = strspn(text, " \t\r\n");
    int rc = 1;
    if (text[lead] == '{') {
        jb_raw(&b, text, len);
    } else if (csv_record(text, &b) != 0) {
        goto done;
    }
    char path[128];
    snprintf(path, sizeof path, "/v1/clearing/cycles/%s/reconcile", cycle);
    rc = call(c, "POST", path, b.p, true);
done:
    jb_free(&b);
    free(text);
    return rc;
}

static int do_report(struct cmd *c)
{
    const char *cycle = positional(c, 1);
    if (!is_cycle(cycle) || !client(c)) {
        return cycle && is_cycle(cycle) ? 1 : usage("report takes a CYCLE number");
    }
    const char *inst = cli_opt(c->argc, c->argv, "--institution");
    char path[160];
    snprintf(path, sizeof path, "/v1/clearing/cycles/%s/reconciliations/%.16s", cycle,
             inst ? inst : jz_client_institution(c->client));
    return call(c, "GET", path, NULL, true);
}

/* ---- Adjustments and disputes ---- */

/* ,"key":"value" for a string option when given. */
static void opt_str(struct cmd *c, struct jbuf *b, const char *opt, const char *key)
{
    const char *v = cli_opt(c->argc, c->argv, opt);
    if (v) {
        jb_key(b, key, false);
        jb_cstr(b, v);
    }
}

/* ,"key":N for a number option when given. */
static void opt_num(struct cmd *c, struct jbuf *b, const char *opt, const char *key)
{
    if (cli_opt(c->argc, c->argv, opt)) {
        jb_key(b, key, false);
        jb_uint(b, cli_opt_u64(c->argc, c->argv, opt, 0, JZ_AMOUNT_FEN_MAX));
    }
}

/* "id": --id, or a fresh one (so that a retry by the SDK stays idempotent). */
static int begin_with_id(struct cmd *c, struct jbuf *b)
{
    const char *id = cli_opt(c->argc, c->argv, "--id");
    char fresh[JZ_ID_SIZE];
    if (!id) {
        if (jz_id_new(fresh) != 0) {
            return -1;
        }
        id = fresh;
    }
    jb_lit(b, "{\"id\":");
    jb_cstr(b, id);
    return 0;
}

static int do_adjust(struct cmd *c)
{
    struct jbuf b;
    jb_init(&b);
    if (begin_with_id(c, &b) != 0) {
        return 1;
    }
    opt_str(c, &b, "--debit", "debit");
    opt_str(c, &b, "--credit", "credit");
    opt_num(c, &b, "--amount", "amount");
    opt_str(c, &b, "--reason", "reason");
    opt_str(c, &b, "--ref", "ref");
    opt_num(c, &b, "--cycle", "cycle");
    jb_lit(&b, "}");
    /* What is missing or wrong the server says, naming the field. */
    int rc = b.failed ? 1 : call(c, "POST", "/v1/clearing/adjustments", b.p, true);
    jb_free(&b);
    return rc;
}

static int by_id(struct cmd *c, const char *method, const char *fmt_prefix, const char *suffix,
                 const char *body)
{
    const char *id = positional(c, c->argc > 1 && positional(c, 2) ? 2 : 1);
    if (!id || !jz_id_valid(id)) {
        return usage("an id of 32 lowercase hex digits is expected");
    }
    char path[200];
    snprintf(path, sizeof path, "%s%s%s", fmt_prefix, id, suffix);
    return call(c, method, path, body, true);
}

static int do_approve(struct cmd *c)
{
    return by_id(c, "POST", "/v1/clearing/adjustments/", "/approve", NULL);
}

static int do_adjustment(struct cmd *c)
{
    return by_id(c, "GET", "/v1/clearing/adjustments/", "", NULL);
}

static int do_dispute(struct cmd *c)
{
    const char *verb = positional(c, 1);
    struct jbuf b;
    jb_init(&b);
    int rc = 1;
    if (verb && (strcmp(verb, "accept") == 0 || strcmp(verb, "reject") == 0)) {
        jb_lit(&b, "{");
        const char *reason = cli_opt(c->argc, c->argv, "--reason");
        if (reason) {
            jb_key(&b, "reason", true);
            jb_cstr(&b, reason);
        }
        jb_lit(&b, "}");
        rc = by_id(c, "POST", "/v1/clearing/disputes/",
                   strcmp(verb, "accept") == 0 ? "/accept" : "/reject", b.p);
    } else if (verb && strcmp(verb, "show") == 0) {
        rc = by_id(c, "GET", "/v1/clearing/disputes/", "", NULL);
    } else if (verb) {
        rc = usage("dispute takes accept, reject or show with an id, or --cycle and --transfer");
    } else if (begin_with_id(c, &b) == 0) {
        opt_num(c, &b, "--cycle", "cycle");
        opt_str(c, &b, "--transfer", "transfer");
        opt_num(c, &b, "--amount", "amount");
        opt_str(c, &b, "--reason", "reason");
        jb_lit(&b, "}");
        rc = b.failed ? 1 : call(c, "POST", "/v1/clearing/disputes", b.p, true);
    }
    jb_free(&b);
    return rc;
}

/* ---- Settings ---- */

static int do_fees(struct cmd *c)
{
    const char *file = cli_opt(c->argc, c->argv, "--set");
    if (!file) {
        return call(c, "GET", "/v1/clearing/fees", NULL, true);
    }
    size_t len = 0;
    char *text = read_all(file, &len);
    int rc = text ? call(c, "PUT", "/v1/clearing/fees", text, true) : 1;
    free(text);
    return rc;
}

static int do_schedule(struct cmd *c)
{
    const char *every = cli_opt(c->argc, c->argv, "--every-ms");
    const char *daily = cli_opt(c->argc, c->argv, "--daily-at");
    bool off = cli_flag(c->argc, c->argv, "--off");
    if (!every && !daily && !off) {
        return call(c, "GET", "/v1/clearing/schedule", NULL, true);
    }
    if (off && (every || daily)) {
        return usage("--off takes no other schedule option");
    }
    struct jbuf b;
    jb_init(&b);
    jb_lit(&b, "{");
    if (every) {
        jb_key(&b, "every_ms", true);
        jb_uint(&b, cli_opt_u64(c->argc, c->argv, "--every-ms", 0, INT64_MAX));
    }
    if (daily) {
        jb_key(&b, "daily_at", !every);
        jb_cstr(&b, daily);
    }
    jb_lit(&b, "}");
    int rc = b.failed ? 1 : call(c, "PUT", "/v1/clearing/schedule", b.p, true);
    jb_free(&b);
    return rc;
}

static const struct {
    const char *name;
    int (*fn)(struct cmd *c);
} verbs[] = {
    {"cutoff", do_cutoff},     {"show", do_show},
    {"files", do_files},       {"reconcile", do_reconcile},
    {"report", do_report},     {"adjust", do_adjust},
    {"approve", do_approve},   {"adjustment", do_adjustment},
    {"dispute", do_dispute},   {"fees", do_fees},
    {"schedule", do_schedule},
};

int cli_clearing(int argc, char **argv)
{
    static const char *const known[] = {
        "--credentials", "--limit",  "--before",   "--institution", "--out", "--verify", "--file",
        "--debit",       "--credit", "--amount",   "--reason",      "--id",  "--ref",    "--cycle",
        "--transfer",    "--set",    "--every-ms", "--daily-at",    NULL};
    static const char *const flags[] = {"--off", "--help", NULL};
    if (argc >= 1 && strcmp(argv[0], "bench") == 0) {
        return cli_clearing_bench(argc - 1, argv + 1);
    }
    if (argc < 1 || cli_flag(argc, argv, "--help")) {
        fputs(help, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    struct cmd c = {.argc = argc, .argv = argv};
    int skip = 1;
    while (skip < argc && positional(&c, skip)) {
        skip++;
    }
    if (cli_check_options(argc - skip, argv + skip, known, flags) != 0) {
        return 2;
    }
    for (size_t i = 0; i < JZ_ARRAY_LEN(verbs); i++) {
        if (strcmp(argv[0], verbs[i].name) == 0) {
            int rc = verbs[i].fn(&c);
            jz_client_free(c.client);
            return rc;
        }
    }
    fprintf(stderr, "jiaozi clearing: unknown verb \"%s\"\n%s", argv[0], help);
    return 2;
}
