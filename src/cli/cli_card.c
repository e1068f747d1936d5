/*
 * cli_card.c: `jiaozi card ...`, a hard wallet on the command line: the secure-element
 * emulator (jzcard.h) in a file, and the TSM routes of a running node. The offline steps
 * (request, pay, accept) touch only card files and exchange hex lines on stdin/stdout, as a
 * phone or terminal would over NFC or QR; init, issue, load, unload, sync, lock, reissue,
 * close and show --server talk to the node, signed like every client command (the SDK's
 * request layer, sdk/sdk_int.h). Exit status: 0 success, 1 refused (by the card or the
 * node, the reason on stderr), 2 usage error.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../sdk/sdk_int.h"
#include "cli.h"
#include "crypto_x509.h"
#include "jzcard.h"

#define LINE_MAX_BYTES (2 * VOUCHER_PAYMENT_MAX + 16)

static const char card_help[] =
    "usage: jiaozi card VERB --card FILE [options]\n"
    "  init                        a new card (key pair) in FILE and FILE.key\n"
    "  issue --wallet ID [--per-payment FEN --offline-total FEN --offline-count N\n"
    "        --expires-at MS]      certify and personalise the card (operator credentials)\n"
    "  load|unload --amount FEN [--id ID]   move value between wallet and card\n"
    "  request --amount FEN        payee: print a challenge (hex) for the payer\n"
    "  pay                         payer: read a challenge on stdin, print the payment\n"
    "  accept (or receive)         payee: read a payment on stdin and keep it\n"
    "  sync                        upload kept vouchers, fetch the revocation list\n"
    "  lock [--card-id ID]         report the card lost: its certificate is revoked\n"
    "  reissue --old ID            personalise FILE (a new `init` card) as the lost card's\n"
    "                              successor, with its float, after the settlement window\n"
    "  close                       sync, then return the float to the wallet and stop the card\n"
    "  show [--server]             the card's state (and the node's view with --server)\n"
    "options: --credentials FILE (else $JZ_CREDENTIALS); JZ_CARD_NOW_MS sets the card's clock\n";

struct cmd {
    int argc;
    char **argv;
    const char *path;
    jzcard *card;
    jz_client *client;
};

static int fail_card(const char *what, int code)
{
    fprintf(stderr, "jiaozi card %s: refused by the card: %s\n", what, jzcard_strerror(code));
    return 1;
}

static int usage(const char *msg)
{
    fprintf(stderr, "jiaozi card: %s (see jiaozi card --help)\n", msg);
    return 2;
}

static int64_t card_now(void)
{
    const char *v = getenv("JZ_CARD_NOW_MS");
    if (v && *v) {
        return strtoll(v, NULL, 10);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int open_card(struct cmd *c, const char *what)
{
    int rc = jzcard_open(c->path, &c->card);
    return rc == JZCARD_OK ? 0 : fail_card(what, rc);
}

static jz_client *client(struct cmd *c)
{
    const char *path = cli_opt(c->argc, c->argv, "--credentials");
    jz_error e;
    if (!path) {
        path = getenv("JZ_CREDENTIALS");
    }
    if (!c->client) {
        c->client = jz_client_from_file(path ? path : "./jiaozi-data/central.json", &e);
        if (!c->client) {
            fprintf(stderr, "jiaozi card: credentials: %s: %s\n", e.code, e.message);
        }
    }
    return c->client;
}

/* One signed request; on 2xx returns the parsed answer (caller frees), else NULL with the
 * node's error printed. */
static json_t *call(struct cmd *c, const char *what, const char *method, const char *path,
                    const char *body)
{
    jz_error e;
    if (!client(c)) {
        return NULL;
    }
    if (sdk_request(c->client, method, path, body, body ? strlen(body) : 0, true, &e) != 0) {
        fprintf(stderr, "jiaozi card %s: %s (HTTP %d): %s%s%s\n", what, e.code, e.http_status,
                e.message, e.field[0] ? " field " : "", e.field);
        return NULL;
    }
    json_t *j = json_loadb(c->client->resp.body, c->client->resp.body_len, 0, NULL);
    if (!j) {
        fprintf(stderr, "jiaozi card %s: the node's answer is not JSON\n", what);
    }
    return j;
}

static const char *jstr(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "";
}

/* Hex text to bytes (out has cap bytes); the byte count or -1. */
static long unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    while (n > 0 && (hex[n - 1] == '\n' || hex[n - 1] == '\r' || hex[n - 1] == ' ')) {
        n--;
    }
    if (n == 0 || n % 2 || n / 2 > cap || jz_hex_decode(hex, n, out, n / 2) != 0) {
        return -1;
    }
    return (long)(n / 2);
}

static void print_hex(const uint8_t *p, size_t n)
{
    char *hex = malloc(2 * n + 1);
    if (hex) {
        jz_hex_encode(p, n, hex);
        puts(hex);
        free(hex);
    }
}

static long read_hex_stdin(uint8_t *out, size_t cap)
{
    static char line[LINE_MAX_BYTES];
    if (!fgets(line, sizeof line, stdin)) {
        return -1;
    }
    return unhex(line, out, cap);
}

static void print_info(const jzcard *card)
{
    static const char *const st[] = {"blank", "active", "closed"};
    struct jzcard_info i;
    char id[33], wallet[33];
    jzcard_get_info(card, &i);
    jz_id_to_hex(&i.card, id);
    jz_id_to_hex(&i.wallet, wallet);
    printf("card %s  %s  balance %" PRId64 " fen  counter %u  load commands %u\n", id,
           st[i.status], i.balance, i.counter, i.load_counter);
    if (i.status != JZCARD_BLANK) {
        printf("wallet %s  tier %u  limits %" PRId64 " a payment, %" PRId64 " and %u payments "
               "between syncs (used %" PRId64 ", %u)  expires %" PRId64 "\n",
               wallet, i.tier, i.per_payment, i.offline_total, i.offline_count,
               i.since_sync_total, i.since_sync_count, i.not_after_ms);
        printf("kept: %u sent, %u received, %u pending challenges; %u revoked cards known\n",
               i.sent, i.received, i.pending, i.revoked);
    }
}

/* Applies a hex TSM command from an answer's "command". */
static int apply(struct cmd *c, const char *what, const char *hex)
{
    uint8_t buf[VOUCHER_COMMAND_MAX];
    long n = unhex(hex, buf, sizeof buf);
    if (n < 0) {
        fprintf(stderr, "jiaozi card %s: the node sent no command\n", what);
        return 1;
    }
    int rc = jzcard_apply_command(c->card, buf, (size_t)n, NULL);
    return rc == JZCARD_OK ? 0 : fail_card(what, rc);
}

static void card_path(const jzcard *card, char out[64])
{
    struct jzcard_info i;
    char id[33];
    jzcard_get_info(card, &i);
    jz_id_to_hex(&i.card, id);
    snprintf(out, 64, "/v1/cards/%s", id);
}

/* ---- verbs ---- */

static int v_init(struct cmd *c)
{
    int rc = jzcard_create(c->path, &c->card);
    if (rc != JZCARD_OK) {
        return fail_card("init", rc);
    }
    char *pem = NULL;
    size_t len = 0;
    print_info(c->card);
    if (jzcard_public_pem(c->card, &pem, &len) == JZCARD_OK) {
        fputs(pem, stdout);
        free(pem);
    }
    return 0;
}

/* Personalises the card from an issue answer. */
static int personalise(struct cmd *c, const char *what, json_t *ans)
{
    static uint8_t perso[VOUCHER_PERSO_MAX];
    long n = unhex(jstr(ans, "personalisation"), perso, sizeof perso);
    if (n < 0) {
        fprintf(stderr, "jiaozi card %s: no personalisation in the answer\n", what);
        return 1;
    }
    int rc = jzcard_personalise(c->card, perso, (size_t)n, card_now());
    return rc == JZCARD_OK ? 0 : fail_card(what, rc);
}

static json_t *issue_body(struct cmd *c)
{
    json_t *b = json_object();
    const char *wallet = cli_opt(c->argc, c->argv, "--wallet");
    if (wallet) {
        json_object_set_new(b, "wallet", json_string(wallet));
    }
    const char *names[] = {"--per-payment", "per_payment", "--offline-total", "offline_total",
                           "--offline-count", "offline_count"};
    json_t *limits = json_object();
    for (int i = 0; i < 6; i += 2) {
        if (cli_opt(c->argc, c->argv, names[i])) {
            json_object_set_new(limits, names[i + 1],
                                json_integer((json_int_t)cli_opt_u64(c->argc, c->argv, names[i],
                                                                     0, INT64_MAX)));
        }
    }
    if (json_object_size(limits)) {
        json_object_set(b, "limits", limits);
    }
    json_decref(limits);
    if (cli_opt(c->argc, c->argv, "--expires-at")) {
        json_object_set_new(b, "expires_at", json_integer((json_int_t)cli_opt_u64(
                                                 c->argc, c->argv, "--expires-at", 0, INT64_MAX)));
    }
    return b;
}

/* Sends the card's public key (in body, as public_key) to path, personalises the card with
 * the answer and applies the command it may carry (a reissue's load). */
static int post_key(struct cmd *c, const char *what, const char *path, json_t *body)
{
    char *pem = NULL;
    size_t len = 0;
    if (open_card(c, what) || jzcard_public_pem(c->card, &pem, &len) != JZCARD_OK) {
        free(pem);
        return 1;
    }
    json_object_set_new(body, "public_key", json_string(pem));
    char *text = json_dumps(body, JSON_COMPACT);
    json_t *ans = text ? call(c, what, "POST", path, text) : NULL;
    int rc = ans ? personalise(c, what, ans) : 1;
    if (rc == 0 && json_object_get(ans, "command")) {
        rc = apply(c, what, jstr(ans, "command"));
    }
    if (rc == 0) {
        printf("%s: float wallet %s\n", what, jstr(ans, "float_wallet"));
        print_info(c->card);
    }
    json_decref(ans);
    free(text);
    free(pem);
    return rc;
}

static int v_issue(struct cmd *c)
{
    if (!cli_opt(c->argc, c->argv, "--wallet")) {
        return usage("issue needs --wallet ID");
    }
    json_t *b = issue_body(c);
    int rc = post_key(c, "issue", "/v1/cards", b);
    json_decref(b);
    return rc;
}

static int v_move(struct cmd *c, bool load)
{
    const char *what = load ? "load" : "unload";
    char path[96], id[JZ_ID_SIZE], body[160];
    if (!cli_opt(c->argc, c->argv, "--amount")) {
        return usage("--amount FEN is required");
    }
    int64_t amount = (int64_t)cli_opt_u64(c->argc, c->argv, "--amount", 0, JZ_AMOUNT_FEN_MAX);
    const char *given = cli_opt(c->argc, c->argv, "--id");
    if (amount < 1 || open_card(c, what)) {
        return amount < 1 ? usage("--amount takes 1 fen or more") : 1;
    }
    struct jzcard_info i;
    jzcard_get_info(c->card, &i);
    if (!load && amount > i.balance) {
        return fail_card(what, JZCARD_E_BALANCE); /* checked before the node moves money */
    }
    if (given) {
        snprintf(id, sizeof id, "%s", given);
    } else {
        jz_id_new(id);
    }
    card_path(c->card, path);
    strcat(path, load ? "/load" : "/unload");
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"amount\":%" PRId64 "}", id, amount);
    json_t *ans = call(c, what, "POST", path, body);
    int rc = ans ? apply(c, what, jstr(ans, "command")) : 1;
    if (rc == 0) {
        print_info(c->card);
    }
    json_decref(ans);
    return rc;
}

static int v_request(struct cmd *c)
{
    uint8_t ch[VOUCHER_CHALLENGE_BYTES];
    int64_t amount = (int64_t)cli_opt_u64(c->argc, c->argv, "--amount", 0, JZ_AMOUNT_FEN_MAX);
    if (amount < 1) {
        return usage("request needs --amount FEN");
    }
    if (open_card(c, "request")) {
        return 1;
    }
    int rc = jzcard_request(c->card, amount, card_now(), ch);
    if (rc != JZCARD_OK) {
        return fail_card("request", rc);
    }
    print_hex(ch, sizeof ch);
    return 0;
}

static int v_pay(struct cmd *c)
{
    uint8_t ch[VOUCHER_CHALLENGE_BYTES + 1];
    static uint8_t out[VOUCHER_PAYMENT_MAX];
    size_t n = 0;
    long len = read_hex_stdin(ch, sizeof ch);
    if (len < 0) {
        return fail_card("pay", JZCARD_E_INPUT);
    }
    if (open_card(c, "pay")) {
        return 1;
    }
    int rc = jzcard_pay(c->card, ch, (size_t)len, card_now(), out, sizeof out, &n);
    if (rc != JZCARD_OK) {
        return fail_card("pay", rc);
    }
    print_hex(out, n);
    return 0;
}

static int v_accept(struct cmd *c)
{
    static uint8_t msg[VOUCHER_PAYMENT_MAX];
    struct voucher v;
    long len = read_hex_stdin(msg, sizeof msg);
    if (len < 0) {
        return fail_card("accept", JZCARD_E_INPUT);
    }
    if (open_card(c, "accept")) {
        return 1;
    }
    int rc = jzcard_accept(c->card, msg, (size_t)len, card_now(), &v);
    if (rc != JZCARD_OK) {
        return fail_card("accept", rc);
    }
    char payer[33];
    jz_id_to_hex(&v.payer, payer);
    printf("accepted %" PRId64 " fen from card %s (voucher %u)\n", v.amount, payer, v.counter);
    return 0;
}

/* The vouchers to upload as the API's JSON. */
static char *upload_body(const jzcard *card, uint32_t n)
{
    json_t *list = json_array();
    for (uint32_t i = 0; i < n; i++) {
        struct jzcard_upload u;
        char body[2 * VOUCHER_BODY_BYTES + 1], sig[2 * CRYPTO_SM2_SIG_MAX + 1];
        crypto_cert *cert = NULL;
        char *pem = NULL;
        size_t pem_len = 0;
        jzcard_upload_at(card, i, &u);
        jz_hex_encode(u.body, VOUCHER_BODY_BYTES, body);
        jz_hex_encode(u.sig, u.sig_len, sig);
        if (crypto_cert_from_der(u.cert, u.cert_len, &cert) != 0 ||
            crypto_cert_pem(cert, &pem, &pem_len) != 0) {
            pem = strdup("");
        }
        crypto_cert_free(cert);
        json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "body", body, "signature", sig,
                                              "certificate", pem ? pem : ""));
        free(pem);
    }
    json_t *root = json_pack("{s:o}", "vouchers", list);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

/* Uploads what the card keeps, then takes the revocation list; the card forgets vouchers
 * the node answered for good. */
static int sync_card(struct cmd *c, const char *what)
{
    uint32_t n = jzcard_upload_count(c->card);
    bool *done = calloc(n + 1, sizeof *done);
    json_t *ans = NULL;
    if (n > 0) {
        char *text = upload_body(c->card, n);
        ans = text ? call(c, what, "POST", "/v1/offline/vouchers", text) : NULL;
        free(text);
        if (!ans) {
            free(done);
            return 1;
        }
    }
    json_t *results = json_object_get(ans, "results");
    for (uint32_t i = 0; i < n; i++) {
        const char *st = jstr(json_array_get(results, i), "status");
        /* Everything the node decided is final; "unavailable" and the like are retried. */
        done[i] = st[0] && strcmp(st, "unavailable") != 0 && strcmp(st, "overloaded") != 0;
        printf("voucher %u: %s\n", i + 1, st);
    }
    json_decref(ans);
    json_t *rev = call(c, what, "GET", "/v1/cards/revoked", NULL);
    json_t *items = json_object_get(rev, "revoked");
    size_t nr = json_array_size(items);
    jz_id *ids = calloc(nr + 1, sizeof *ids);
    for (size_t i = 0; ids && i < nr; i++) {
        const char *h = jstr(json_array_get(items, i), "card_id");
        jz_id_from_hex(h, strlen(h), &ids[i]);
    }
    int rc = rev && ids ? jzcard_sync_done(c->card, done, n, ids, nr) : JZCARD_E_IO;
    json_decref(rev);
    free(ids);
    free(done);
    if (rc != JZCARD_OK) {
        return rev ? fail_card(what, rc) : 1;
    }
    printf("synced: %u vouchers uploaded, %zu revoked cards known\n", n, nr);
    return 0;
}

static int v_sync(struct cmd *c)
{
    return open_card(c, "sync") ? 1 : sync_card(c, "sync");
}

static int v_lock(struct cmd *c)
{
    char path[96];
    const char *id = cli_opt(c->argc, c->argv, "--card-id");
    if (id) {
        if (!jz_id_valid(id)) {
            return usage("--card-id takes 32 lowercase hex digits");
        }
        snprintf(path, sizeof path, "/v1/cards/%s/lock", id);
    } else if (c->path && open_card(c, "lock") == 0) {
        card_path(c->card, path);
        strcat(path, "/lock");
    } else {
        return c->path ? 1 : usage("lock needs --card FILE or --card-id ID");
    }
    json_t *ans = call(c, "lock", "POST", path, NULL);
    if (ans) {
        printf("card %s %s: its certificate is revoked\n", jstr(ans, "card_id"),
               jstr(ans, "status"));
    }
    json_decref(ans);
    return ans ? 0 : 1;
}

static int v_reissue(struct cmd *c)
{
    const char *old = cli_opt(c->argc, c->argv, "--old");
    char path[96];
    if (!old || !jz_id_valid(old)) {
        return usage("reissue needs --old CARD_ID");
    }
    snprintf(path, sizeof path, "/v1/cards/%s/reissue", old);
    json_t *b = json_object();
    int rc = post_key(c, "reissue", path, b);
    json_decref(b);
    return rc;
}

static int v_close(struct cmd *c)
{
    char path[96];
    if (open_card(c, "close") || sync_card(c, "close") != 0) {
        return 1;
    }
    card_path(c->card, path);
    strcat(path, "/close");
    json_t *ans = call(c, "close", "POST", path, NULL);
    int rc = ans ? apply(c, "close", jstr(ans, "command")) : 1;
    if (rc == 0) {
        printf("closed: %" PRId64 " fen returned to the wallet\n",
               (int64_t)json_integer_value(json_object_get(ans, "amount")));
    }
    json_decref(ans);
    return rc;
}

static int v_show(struct cmd *c)
{
    char path[96];
    const char *id = cli_opt(c->argc, c->argv, "--card-id");
    if (!id && open_card(c, "show")) {
        return 1;
    }
    if (c->card) {
        print_info(c->card);
    }
    if (!id && !cli_flag(c->argc, c->argv, "--server")) {
        return 0;
    }
    if (id) {
        snprintf(path, sizeof path, "/v1/cards/%s", id);
    } else {
        card_path(c->card, path);
    }
    json_t *ans = call(c, "show", "GET", path, NULL);
    if (ans) {
        char *text = json_dumps(ans, JSON_COMPACT);
        printf("%s\n", text ? text : "");
        free(text);
    }
    json_decref(ans);
    return ans ? 0 : 1;
}

struct verb {
    const char *name;
    bool needs_card;
    int (*fn)(struct cmd *c);
};

static int v_load(struct cmd *c)
{
    return v_move(c, true);
}

static int v_unload(struct cmd *c)
{
    return v_move(c, false);
}

static const struct verb verbs[] = {
    {"init", true, v_init},       {"issue", true, v_issue},     {"load", true, v_load},
    {"unload", true, v_unload},   {"request", true, v_request}, {"pay", true, v_pay},
    {"accept", true, v_accept},   {"receive", true, v_accept},  {"sync", true, v_sync},
    {"lock", false, v_lock},      {"reissue", true, v_reissue}, {"close", true, v_close},
    {"show", false, v_show},
};

int cli_card(int argc, char **argv)
{
    static const char *const known[] = {"--card", "--credentials", "--wallet", "--amount", "--id",
                                        "--per-payment", "--offline-total", "--offline-count",
                                        "--expires-at", "--card-id", "--old", NULL};
    static const char *const flags[] = {"--server", "--help", NULL};
    if (argc < 1 || strcmp(argv[0], "--help") == 0) {
        fputs(card_help, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    for (size_t i = 0; i < JZ_ARRAY_LEN(verbs); i++) {
        if (strcmp(verbs[i].name, argv[0]) != 0) {
            continue;
        }
        struct cmd c = {.argc = argc - 1, .argv = argv + 1};
        if (cli_flag(c.argc, c.argv, "--help")) {
            fputs(card_help, stdout);
            return 0;
        }
        if (cli_check_options(c.argc, c.argv, known, flags) != 0) {
            return 2;
        }
        c.path = cli_opt(c.argc, c.argv, "--card");
        if (verbs[i].needs_card && !c.path && !(strcmp(argv[0], "show") == 0)) {
            return usage("--card FILE is required");
        }
        int rc = verbs[i].fn(&c);
        jzcard_close(c.card);
        jz_client_free(c.client);
        return rc;
    }
    fprintf(stderr, "jiaozi card: unknown verb \"%s\"\n", argv[0]);
    fputs(card_help, stderr);
    return 2;
}
