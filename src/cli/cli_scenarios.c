/*
 * cli_scenarios.c: `jiaozi merchant|order|refund|bill|campaign ...`, the payment scenarios'
 * client commands (issue 7). They sign requests with the SDK (the same signing, keep-alive
 * and retries as every other client command) and print the server's JSON answer on stdout.
 * `campaign draw ID --verify` re-runs the published draw locally (scenario_draw.h): anyone
 * with credentials can check that the published seed gives the published winners.
 *
 * Credentials: --credentials FILE, else $JZ_CREDENTIALS, else ./jiaozi-data/central.json; a
 * merchant's key (saved by `merchant add --save FILE`) has the same format. Times given as
 * "+N" mean N seconds from now; otherwise milliseconds since the epoch. Exit codes: 0
 * success, 1 an API, connection or verification failure, 2 a usage error.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../sdk/sdk_int.h"
#include "cli.h"
#include "common.h"
#include "crypto.h"
#include "scenario_draw.h"

#define FILE_MAX (4u << 20)

struct sc {
    int argc;
    char **argv;
    const char *pos; /* the positional ID after the verb, or NULL */
    jz_client *client;
};

/* A usage error: what is wrong (and what about, when given). Exit code 2. */
static int usage(const char *what, const char *about)
{
    fprintf(stderr, "jiaozi: %s%s%s (see --help)\n", what, about ? ": " : "", about ? about : "");
    return 2;
}

static const char *opt(struct sc *s, const char *name)
{
    return cli_opt(s->argc, s->argv, name);
}

/* Sends method path with body (a JSON object, consumed; NULL for none) and prints the
 * answer unless quiet. 0, or 1 on an API or connection error (printed). *answer keeps the
 * parsed answer when not NULL (the caller json_decref's it). */
static int send_as(struct sc *s, bool quiet, const char *method, const char *path, json_t *body,
                   json_t **answer)
{
    jz_error e;
    const char *cred = opt(s, "--credentials");
    if (!cred) {
        cred = getenv("JZ_CREDENTIALS");
    }
    if (!s->client) {
        s->client = jz_client_from_file(cred && cred[0] ? cred : "./jiaozi-data/central.json", &e);
    }
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    int rc = s->client ? sdk_request(s->client, method, path, text, text ? strlen(text) : 0,
                                     true, &e)
                       : -1;
    free(text);
    if (rc != 0) {
        fprintf(stderr, "jiaozi %s %s: %s (HTTP %d): %s%s%s\n", method, path, e.code,
                e.http_status, e.message, e.field[0] ? " field " : "", e.field);
        return 1;
    }
    if (!quiet) {
        printf("%.*s\n", (int)s->client->resp.body_len, s->client->resp.body);
    }
    if (answer) {
        *answer = json_loadb(s->client->resp.body, s->client->resp.body_len, 0, NULL);
    }
    return 0;
}

static int send(struct sc *s, const char *method, const char *path, json_t *body,
                json_t **answer)
{
    return send_as(s, false, method, path, body, answer);
}

/* A required option, or NULL after a usage message. */
static const char *need(struct sc *s, const char *name)
{
    const char *v = opt(s, name);
    if (!v) {
        usage("a required option is missing", name);
    }
    return v;
}

/* An integer option (or a time "+seconds"); *ok false after a usage message. */
static int64_t num(struct sc *s, const char *name, bool required, bool time, bool *ok)
{
    const char *v = required ? need(s, name) : opt(s, name);
    if (!v) {
        *ok = *ok && !required;
        return 0;
    }
    bool rel = time && v[0] == '+';
    char *end = NULL;
    long long n = strtoll(v + rel, &end, 10);
    if (end == v + rel || *end != '\0' || n < 0) {
        usage(time ? "takes a whole number of ms, or +seconds" : "takes a whole number", name);
        *ok = false;
        return 0;
    }
    if (rel) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (int64_t)n * 1000;
    }
    return n;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = f ? malloc(FILE_MAX + 1) : NULL;
    size_t n = buf ? fread(buf, 1, FILE_MAX + 1, f) : 0;
    if (f) {
        fclose(f);
    }
    if (!buf || n > FILE_MAX) {
        fprintf(stderr, "jiaozi: cannot read %s (or it is over 4 MiB)\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void set_opt_str(json_t *o, struct sc *s, const char *key, const char *name)
{
    const char *v = opt(s, name);
    if (v) {
        json_object_set_new(o, key, json_string(v));
    }
}

/* ---- merchant, order, refund ---- */

static int merchant_add(struct sc *s)
{
    const char *wallet = need(s, "--wallet");
    const char *name = need(s, "--name");
    if (!wallet || !name) {
        return 2;
    }
    json_t *a = NULL;
    int rc = send(s, "POST", "/v1/merchants", json_pack("{ssss}", "wallet", wallet, "name", name),
                  &a);
    const char *save = opt(s, "--save");
    const char *secret = json_string_value(json_object_get(a, "secret"));
    if (rc == 0 && save && secret) {
        jz_credentials cred;
        jz_error e;
        memset(&cred, 0, sizeof cred);
        snprintf(cred.institution, sizeof cred.institution, "%s",
                 json_string_value(json_object_get(a, "operator")));
        snprintf(cred.key_id, sizeof cred.key_id, "%s",
                 json_string_value(json_object_get(a, "key_id")));
        snprintf(cred.secret, sizeof cred.secret, "%s", secret);
        snprintf(cred.url, sizeof cred.url, "%s", jz_client_url(s->client));
        if (jz_credentials_save(&cred, save, &e) != 0) {
            fprintf(stderr, "jiaozi: %s: %s\n", save, e.message);
            rc = 1;
        }
        jz_credentials_clear(&cred);
    }
    json_decref(a);
    return rc;
}

/* GET /v1/<collection>/<the positional id>. */
static int get_one(struct sc *s, const char *collection)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/%s/%s", collection, s->pos);
    return send(s, "GET", path, NULL, NULL);
}

static int merchant_show(struct sc *s)
{
    return get_one(s, "merchants");
}

static int order_create(struct sc *s)
{
    bool ok = true;
    int64_t amount = num(s, "--amount", true, false, &ok);
    int64_t expires = num(s, "--expires", true, true, &ok);
    if (!ok) {
        return 2;
    }
    json_t *b = json_pack("{sIsI}", "amount", (json_int_t)amount, "expires_at", (json_int_t)expires);
    set_opt_str(b, s, "merchant", "--merchant");
    set_opt_str(b, s, "id", "--id");
    set_opt_str(b, s, "ref", "--ref");
    set_opt_str(b, s, "memo", "--memo");
    return send(s, "POST", "/v1/orders", b, NULL);
}

static int order_show(struct sc *s)
{
    return get_one(s, "orders");
}

static int order_pay(struct sc *s)
{
    const char *qr = need(s, "--qr");
    const char *from = need(s, "--from");
    bool ok = qr && from;
    int64_t amount = num(s, "--amount", false, false, &ok);
    if (!ok) {
        return 2;
    }
    json_t *b = json_pack("{ssss}", "qr", qr, "debit", from);
    if (amount) {
        json_object_set_new(b, "amount", json_integer(amount));
        char id[33];
        if (!opt(s, "--id") && jz_id_new(id) == 0) {
            json_object_set_new(b, "id", json_string(id));
        }
    }
    set_opt_str(b, s, "id", "--id");
    set_opt_str(b, s, "memo", "--memo");
    return send(s, "POST", "/v1/pay", b, NULL);
}

static int refund(struct sc *s)
{
    const char *order = need(s, "--order");
    bool ok = order != NULL;
    int64_t amount = num(s, "--amount", true, false, &ok);
    char id[33];
    if (!ok || jz_id_new(id) != 0) {
        return 2;
    }
    const char *given = opt(s, "--id");
    json_t *b = json_pack("{sssI}", "id", given ? given : id, "amount", (json_int_t)amount);
    set_opt_str(b, s, "memo", "--memo");
    char path[200];
    snprintf(path, sizeof path, "/v1/orders/%s/refunds", order);
    return send(s, "POST", path, b, NULL);
}

/* ---- bill ---- */

static int bill_biller(struct sc *s)
{
    const char *wallet = need(s, "--wallet");
    const char *name = need(s, "--name");
    const char *category = need(s, "--category");
    if (!wallet || !name || !category) {
        return 2;
    }
    return send(s, "POST", "/v1/billers",
                json_pack("{ssssss}", "wallet", wallet, "name", name, "category", category), NULL);
}

static int bill_upload(struct sc *s)
{
    const char *biller = need(s, "--biller");
    const char *file = need(s, "--file");
    size_t len = 0;
    char *csv = biller && file ? read_file(file, &len) : NULL;
    if (!csv) {
        return biller && file ? 1 : 2;
    }
    char path[200];
    snprintf(path, sizeof path, "/v1/billers/%s/bills", biller);
    json_t *b = json_object();
    json_object_set_new(b, "csv", json_stringn(csv, len));
    free(csv);
    return send(s, "POST", path, b, NULL);
}

static int bill_show(struct sc *s)
{
    const char *biller = need(s, "--biller");
    const char *ref = need(s, "--ref");
    if (!biller || !ref) {
        return 2;
    }
    char path[256];
    snprintf(path, sizeof path, "/v1/billers/%s/bills/%s", biller, ref);
    return send(s, "GET", path, NULL, NULL);
}

static int bill_pay(struct sc *s)
{
    const char *biller = need(s, "--biller");
    const char *ref = need(s, "--ref");
    const char *from = need(s, "--from");
    bool ok = biller && ref && from;
    int64_t amount = num(s, "--amount", true, false, &ok);
    if (!ok) {
        return 2;
    }
    char path[200];
    snprintf(path, sizeof path, "/v1/billers/%s/payments", biller);
    json_t *b = json_pack("{sssssI}", "reference", ref, "debit", from, "amount", (json_int_t)amount);
    set_opt_str(b, s, "memo", "--memo");
    return send(s, "POST", path, b, NULL);
}

static int bill_paid(struct sc *s)
{
    const char *biller = need(s, "--biller");
    const char *date = need(s, "--date");
    if (!biller || !date) {
        return 2;
    }
    char path[256];
    json_t *a = NULL;
    snprintf(path, sizeof path, "/v1/billers/%s/paid?date=%s", biller, date);
    int rc = send(s, "GET", path, NULL, &a);
    const char *out = opt(s, "--out");
    const char *csv = json_string_value(json_object_get(a, "csv"));
    if (rc == 0 && out && csv) {
        FILE *f = fopen(out, "w");
        if (!f || fputs(csv, f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "jiaozi: cannot write %s\n", out);
            rc = 1;
        }
    }
    json_decref(a);
    return rc;
}

/* ---- campaign ---- */

static int hex_bytes(const char *hex, uint8_t out[32])
{
    return hex && strlen(hex) == 64 && jz_hex_decode(hex, 64, out, 32) == 0 ? 0 : -1;
}

static int campaign_seed(struct sc *s)
{
    (void)s;
    uint8_t seed[32];
    uint8_t commit[32];
    char a[65];
    char b[65];
    if (crypto_random(seed, sizeof seed) != 0 || crypto_sm3(seed, sizeof seed, commit) != 0) {
        return 1;
    }
    jz_hex_encode(seed, 32, a);
    jz_hex_encode(commit, 32, b);
    printf("{\"seed\":\"%s\",\"seed_commitment\":\"%s\"}\n", a, b);
    crypto_wipe(seed, sizeof seed);
    return 0;
}

static int campaign_create(struct sc *s)
{
    const char *pool = need(s, "--pool");
    const char *name = need(s, "--name");
    const char *commitment = need(s, "--commitment");
    bool ok = pool && name && commitment;
    int64_t amount = num(s, "--amount", true, false, &ok);
    int64_t winners = num(s, "--winners", true, false, &ok);
    int64_t opens = num(s, "--opens", true, true, &ok);
    int64_t closes = num(s, "--closes", true, true, &ok);
    int64_t spend = num(s, "--spend-until", true, true, &ok);
    if (!ok) {
        return 2;
    }
    json_t *b = json_pack("{sssssIsIsIsIsIss}", "name", name, "pool", pool, "amount",
                          (json_int_t)amount, "winners", (json_int_t)winners,
                          "registration_opens_at", (json_int_t)opens, "registration_closes_at",
                          (json_int_t)closes, "spend_expires_at", (json_int_t)spend,
                          "seed_commitment", commitment);
    const char *mccs = opt(s, "--mccs");
    if (mccs) {
        json_t *arr = json_array();
        for (const char *p = mccs; *p;) {
            json_array_append_new(arr, json_integer(strtol(p, NULL, 10)));
            p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p);
        }
        json_object_set_new(b, "mccs", arr);
    }
    set_opt_str(b, s, "id", "--id");
    return send(s, "POST", "/v1/campaigns", b, NULL);
}

static int campaign_show(struct sc *s)
{
    return get_one(s, "campaigns");
}

static int campaign_register(struct sc *s)
{
    const char *wallet = opt(s, "--wallet");
    const char *phone = opt(s, "--phone");
    if (!wallet == !phone) {
        return usage("give --wallet or --phone", NULL);
    }
    char path[200];
    snprintf(path, sizeof path, "/v1/campaigns/%s/registrations", s->pos);
    return send(s, "POST", path,
                wallet ? json_pack("{ss}", "wallet", wallet) : json_pack("{ss}", "phone", phone),
                NULL);
}

/* Re-runs a published draw with seed: 0 when it gives the published winners, in order. */
static int verify_draw(json_t *draw, const uint8_t seed[32])
{
    json_t *regs = json_object_get(draw, "registrations");
    json_t *wins = json_object_get(draw, "winners");
    size_t n = json_array_size(regs);
    size_t k = json_array_size(wins);
    jz_id *ids = calloc(n + 1, sizeof *ids);
    uint32_t *out = calloc(k + 1, sizeof *out);
    uint8_t digest[32];
    int rc = ids && out ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *h = json_string_value(json_array_get(regs, i));
        rc = h && jz_id_from_hex(h, strlen(h), &ids[i]) == 0 ? 0 : -1;
    }
    if (rc == 0 && scen_draw(seed, ids, (uint32_t)n, (uint32_t)k, out, digest) != (int64_t)k) {
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < k; i++) {
        char h[33];
        jz_id_to_hex(&ids[out[i]], h);
        h[32] = '\0';
        const char *w = json_string_value(json_object_get(json_array_get(wins, i),
                                                          "registration"));
        rc = w && strcmp(w, h) == 0 ? 0 : -1;
    }
    free(ids);
    free(out);
    return rc;
}

static int campaign_verify(struct sc *s)
{
    json_t *draw = NULL;
    const char *file = opt(s, "--file");
    if (file) {
        draw = json_load_file(file, 0, NULL);
    } else {
        char path[200];
        snprintf(path, sizeof path, "/v1/campaigns/%s/draw", s->pos);
        int rc = send_as(s, true, "GET", path, NULL, &draw);
        if (rc != 0) {
            return rc;
        }
    }
    uint8_t seed[32];
    const char *given = opt(s, "--seed");
    const char *published = json_string_value(json_object_get(draw, "seed"));
    if (!draw || hex_bytes(given ? given : published, seed) != 0) {
        json_decref(draw);
        return usage("no published draw, or a seed that is not 64 hex digits", NULL);
    }
    size_t k = json_array_size(json_object_get(draw, "winners"));
    int rc = verify_draw(draw, seed);
    printf("%s: %s %zu winners of %zu registrations with %s seed\n",
           rc == 0 ? "verified" : "MISMATCH", rc == 0 ? "the published list of" : "not the",
           k, json_array_size(json_object_get(draw, "registrations")),
           given ? "the given" : "the published");
    json_decref(draw);
    return rc == 0 ? 0 : 1;
}

static int campaign_draw(struct sc *s)
{
    if (cli_flag(s->argc, s->argv, "--verify")) {
        return campaign_verify(s);
    }
    const char *seed = need(s, "--seed");
    if (!seed) {
        return 2;
    }
    char path[200];
    snprintf(path, sizeof path, "/v1/campaigns/%s/draw", s->pos);
    return send(s, "POST", path, json_pack("{ss}", "seed", seed), NULL);
}

/* ---- dispatch ---- */

struct verb {
    const char *command, *name;
    bool takes_id;
    int (*fn)(struct sc *s);
    const char *help;
};

static const struct verb verbs[] = {
    {"merchant", "add", false, merchant_add,
     "merchant add --wallet W --name N [--save FILE]   register a merchant wallet; --save\n"
     "    writes its new key as a credentials file"},
    {"merchant", "show", true, merchant_show, "merchant show ID"},
    {"order", "create", false, order_create,
     "order create --amount FEN --expires +SECONDS|MS [--merchant W] [--id ID] [--ref R]\n"
     "    (a merchant's key, or its operator's with --merchant); prints the order and its QR"},
    {"order", "show", true, order_show, "order show ID"},
    {"order", "pay", false, order_pay,
     "order pay --qr URI --from W [--amount FEN --id ID]   pay a dynamic (or static) code"},
    {"refund", NULL, false, refund, "refund --order ID --amount FEN [--id ID] [--memo M]"},
    {"bill", "biller", false, bill_biller,
     "bill biller --wallet W --name N --category water|power|gas|tv|traffic_fine|phone"},
    {"bill", "upload", false, bill_upload, "bill upload --biller W --file BILLS.csv"},
    {"bill", "show", false, bill_show, "bill show --biller W --ref R"},
    {"bill", "pay", false, bill_pay, "bill pay --biller W --ref R --from W --amount FEN"},
    {"bill", "paid", false, bill_paid, "bill paid --biller W --date YYYY-MM-DD [--out FILE]"},
    {"campaign", "seed", false, campaign_seed,
     "campaign seed   a new secret seed and its commitment (publish only the commitment)"},
    {"campaign", "create", false, campaign_create,
     "campaign create --pool W --name N --amount FEN --winners K --opens T --closes T\n"
     "    --spend-until T --commitment HEX [--mccs 5411,5812] [--id ID]"},
    {"campaign", "show", true, campaign_show, "campaign show ID"},
    {"campaign", "register", true, campaign_register,
     "campaign register ID --wallet W | --phone P"},
    {"campaign", "draw", true, campaign_draw,
     "campaign draw ID --seed HEX   draw (the operator reveals the seed)\n"
     "  jiaozi campaign draw ID --verify [--seed HEX] [--file DRAW.json]   re-run the\n"
     "    published draw: exit 0 when the seed gives the published winners, 1 when not"},
};

/* Options of every verb: any other is a usage error, so a misspelt one never goes unseen. */
static const char *const known_options[] = {
    "--credentials", "--wallet", "--name",    "--save",    "--amount",  "--expires",
    "--merchant",    "--id",     "--ref",     "--memo",    "--qr",      "--from",
    "--order",       "--category", "--biller", "--file",   "--date",    "--out",
    "--pool",        "--commitment", "--winners", "--opens", "--closes", "--spend-until",
    "--mccs",        "--phone",  "--seed",    NULL};
static const char *const known_flags[] = {"--verify", "--help", NULL};

bool cli_scenario_command(const char *command)
{
    for (size_t i = 0; i < JZ_ARRAY_LEN(verbs); i++) {
        if (strcmp(verbs[i].command, command) == 0) {
            return true;
        }
    }
    return false;
}

static int help(const char *command)
{
    printf("usage (common: --credentials FILE, else $JZ_CREDENTIALS; times +SECONDS or ms):\n");
    for (size_t i = 0; i < JZ_ARRAY_LEN(verbs); i++) {
        if (strcmp(verbs[i].command, command) == 0) {
            printf("  jiaozi %s\n", verbs[i].help);
        }
    }
    return 0;
}

int cli_scenarios(const char *command, int argc, char **argv)
{
    if (argc > 0 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "help") == 0)) {
        return help(command);
    }
    for (size_t i = 0; i < JZ_ARRAY_LEN(verbs); i++) {
        const struct verb *v = &verbs[i];
        bool named = v->name && argc > 0 && strcmp(argv[0], v->name) == 0;
        if (strcmp(v->command, command) != 0 || (v->name && !named)) {
            continue;
        }
        struct sc s = {.argc = argc - (named ? 1 : 0), .argv = argv + (named ? 1 : 0)};
        if (cli_flag(s.argc, s.argv, "--help")) {
            return help(command);
        }
        if (cli_check_options(s.argc - (v->takes_id && s.argc > 0 ? 1 : 0),
                              s.argv + (v->takes_id && s.argc > 0 ? 1 : 0), known_options,
                              known_flags) != 0) {
            return 2;
        }
        if (v->takes_id) {
            if (s.argc < 1 || !jz_id_valid(s.argv[0])) {
                return usage("takes an id (32 lowercase hex digits)", command);
            }
            s.pos = s.argv[0];
            s.argc--;
            s.argv++;
        }
        int rc = v->fn(&s);
        jz_client_free(s.client);
        return rc;
    }
    help(command);
    return 2;
}
