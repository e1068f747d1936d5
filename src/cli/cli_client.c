/*
 * cli_client.c: `jiaozi wallet|pay|quota|institution|transfer|hold|audit head`, the client
 * commands. They use nothing but the public SDK (jiaozi.h), as any other program would, so
 * they double as its first user. Each verb is one row of a table: its options, its help and
 * the function that runs it; parsing, credentials and errors are handled once, here.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_client.h"
#include "jiaozi.h"

const char cli_client_usage[] =
    "  wallet open|show|history|freeze|unfreeze|tier|close   wallets (through the API)\n"
    "  pay --from ID --to ID --amount FEN  a transfer between wallets\n"
    "  quota issue|redeem --operator ID --amount FEN   central's quota\n"
    "  institution add|show|list   operators and their credentials\n"
    "  transfer show ID / hold create|show|capture|void / audit head\n";

static const char common_help[] =
    "common options:\n"
    "  --credentials FILE   institution credentials (else $JZ_CREDENTIALS, else\n"
    "                       ./jiaozi-data/central.json)\n"
    "  --json               print the answer as JSON instead of a line of text\n"
    "exit status: 0 success, 1 API or connection error, 2 usage error\n";

/* One run of a verb: its arguments once the verb (and its ID, if it takes one) are removed. */
struct run {
    int argc;
    char **argv;
    const char *id; /* the positional ID, or NULL */
    bool json;
    jz_client *client; /* loaded on first use */
};

struct verb {
    const char *command;
    const char *name; /* NULL for a command without verbs (pay) */
    bool takes_id;
    const char *const *options; /* NULL-terminated, beyond --credentials */
    const char *const *flags;   /* NULL-terminated, beyond --json and --help */
    const char *help;
    int (*fn)(struct run *r);
};

/* ---- output ------------------------------------------------------------------------------ */

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("jiaozi: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see --help)\n", stderr);
    return 2;
}

static int api_error(const char *what, const jz_error *e)
{
    fprintf(stderr, "jiaozi %s: %s", what, e->code);
    if (e->http_status) {
        fprintf(stderr, " (HTTP %d)", e->http_status);
    }
    fprintf(stderr, ": %s", e->message);
    if (e->field[0]) {
        fprintf(stderr, " [field %s]", e->field);
    }
    fputc('\n', stderr);
    return 1;
}

/* A JSON string literal of s (UTF-8 passes through; quotes and controls are escaped). */
static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            printf("\\%c", ch);
        } else if (ch == '\n') {
            fputs("\\n", stdout);
        } else if (ch < 0x20) {
            printf("\\u%04x", ch);
        } else {
            putchar(ch);
        }
    }
    putchar('"');
}

/* "key":"value" or "key":null when value is "". */
static void json_kv(const char *key, const char *value, bool comma)
{
    printf("\"%s\":", key);
    if (value[0]) {
        json_str(value);
    } else {
        fputs("null", stdout);
    }
    fputs(comma ? "," : "", stdout);
}

static const char *iso_time(int64_t ms, char buf[40])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&s, &tm) || strftime(buf, 24, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        snprintf(buf, 40, "%" PRId64, ms);
        return buf;
    }
    snprintf(buf + strlen(buf), 16, ".%03dZ", (int)(ms % 1000));
    return buf;
}

static void print_transfer(const jz_transfer *t, bool json)
{
    char when[40];
    if (!json) {
        printf("transfer %s  %s  %s  %" PRId64 " fen  %s -> %s  %s%s%s%s%s\n", t->id, t->status,
               t->kind, t->amount, t->debit, t->credit, iso_time(t->timestamp, when),
               t->ref[0] ? "  ref " : "", t->ref, t->memo[0] ? "  memo " : "", t->memo);
        return;
    }
    fputs("{", stdout);
    json_kv("id", t->id, true);
    json_kv("debit", t->debit, true);
    json_kv("credit", t->credit, true);
    printf("\"amount\":%" PRId64 ",", t->amount);
    json_kv("kind", t->kind, true);
    json_kv("status", t->status, true);
    printf("\"timestamp\":%" PRId64 ",", t->timestamp);
    json_kv("ref", t->ref, true);
    json_kv("memo", t->memo, false);
    fputs("}", stdout);
}

static void print_wallet(const jz_wallet *w, bool json)
{
    if (!json) {
        printf("wallet %s  operator %s  %s tier %d %s  %s  balance %" PRId64 "  held %" PRId64
               "  available %" PRId64 " fen  out today %" PRId64 " this year %" PRId64 "%s%s\n",
               w->id, w->operator_id, w->kind, w->tier, w->form, w->status, w->balance, w->held,
               w->available, w->day_out, w->year_out, w->parent[0] ? "  parent " : "",
               w->parent);
        return;
    }
    fputs("{", stdout);
    json_kv("id", w->id, true);
    json_kv("operator", w->operator_id, true);
    json_kv("kind", w->kind, true);
    printf("\"tier\":%d,", w->tier);
    json_kv("form", w->form, true);
    json_kv("status", w->status, true);
    json_kv("parent", w->parent, true);
    printf("\"balance\":%" PRId64 ",\"held\":%" PRId64 ",\"available\":%" PRId64
           ",\"day_out\":%" PRId64 ",\"year_out\":%" PRId64 ",\"created_at\":%" PRId64 ",",
           w->balance, w->held, w->available, w->day_out, w->year_out, w->created_at);
    if (w->mcc) {
        printf("\"mcc\":%d}\n", w->mcc);
    } else {
        fputs("\"mcc\":null}\n", stdout);
    }
}

static void print_hold(const jz_hold *h, bool json)
{
    char when[40];
    if (!json) {
        printf("hold %s  %s  %" PRId64 " fen (captured %" PRId64 ")  %s -> %s  deadline %s\n",
               h->id, h->status, h->amount, h->captured, h->debit, h->credit,
               iso_time(h->deadline, when));
        return;
    }
    fputs("{", stdout);
    json_kv("id", h->id, true);
    json_kv("debit", h->debit, true);
    json_kv("credit", h->credit, true);
    printf("\"amount\":%" PRId64 ",\"captured\":%" PRId64 ",", h->amount, h->captured);
    json_kv("status", h->status, true);
    printf("\"deadline\":%" PRId64 ",\"created_at\":%" PRId64 "}\n", h->deadline,
           h->created_at);
}

static void print_institution(const jz_institution *in, bool json)
{
    if (!json) {
        printf("institution %s  %s  \"%s\"  treasury %s\n", in->id, in->kind, in->name,
               in->treasury);
        return;
    }
    fputs("{", stdout);
    json_kv("id", in->id, true);
    json_kv("name", in->name, true);
    json_kv("kind", in->kind, true);
    json_kv("treasury", in->treasury, false);
    fputs("}", stdout);
}

/* ---- arguments and the client ------------------------------------------------------------ */

static jz_client *client_of(struct run *r)
{
    if (r->client) {
        return r->client;
    }
    const char *path = cli_opt(r->argc, r->argv, "--credentials");
    if (!path) {
        path = getenv("JZ_CREDENTIALS");
    }
    if (!path || !path[0]) {
        path = "./jiaozi-data/central.json";
    }
    jz_error e;
    r->client = jz_client_from_file(path, &e);
    if (!r->client) {
        api_error("credentials", &e);
    }
    return r->client;
}

/* A required option; NULL (after a usage message) when absent. */
static const char *need(const struct run *r, const char *name)
{
    const char *v = cli_opt(r->argc, r->argv, name);
    if (!v) {
        usage_error("%s is required", name);
    }
    return v;
}

/* A required wallet id option (--from, --to): a usage error unless it is a 32-hex id. */
static const char *need_id(const struct run *r, const char *name)
{
    const char *v = need(r, name);
    if (v && !jz_id_valid(v)) {
        usage_error("%s takes a 32-lowercase-hex-digit id, not \"%s\"", name, v);
        return NULL;
    }
    return v;
}

static const char *opt_id(const struct run *r, const char *name, bool *bad)
{
    const char *v = cli_opt(r->argc, r->argv, name);
    if (v && !jz_id_valid(v)) {
        usage_error("%s takes a 32-lowercase-hex-digit id, not \"%s\"", name, v);
        *bad = true;
    }
    return v;
}

static int64_t need_amount(const struct run *r)
{
    if (!need(r, "--amount")) {
        return -1;
    }
    int64_t a = (int64_t)cli_opt_u64(r->argc, r->argv, "--amount", 0, JZ_AMOUNT_FEN_MAX);
    if (a < 1) {
        usage_error("--amount takes 1 to %lld fen", (long long)JZ_AMOUNT_FEN_MAX);
        return -1;
    }
    return a;
}

/* ---- wallets ----------------------------------------------------------------------------- */

static int wallet_open(struct run *r)
{
    bool bad = false;
    jz_wallet_spec s = {
        .id = opt_id(r, "--id", &bad),
        .kind = cli_opt(r->argc, r->argv, "--kind"),
        .tier = (int)cli_opt_u64(r->argc, r->argv, "--tier", 0, 4),
        .form = cli_opt(r->argc, r->argv, "--form"),
        .parent = opt_id(r, "--parent", &bad),
        .holder_name = cli_opt(r->argc, r->argv, "--holder-name"),
        .holder_id_number = cli_opt(r->argc, r->argv, "--holder-id-number"),
        .holder_phone = cli_opt(r->argc, r->argv, "--holder-phone"),
        .mcc = (int)cli_opt_u64(r->argc, r->argv, "--mcc", 0, 9999),
    };
    if (bad) {
        return 2;
    }
    if (s.tier < 1) {
        return usage_error("--tier (1-4) is required");
    }
    s.kind = s.kind ? s.kind : "personal";
    s.form = s.form ? s.form : "soft";
    jz_wallet w;
    jz_error e;
    if (!client_of(r)) {
        return 1;
    }
    if (jz_wallet_open(r->client, &s, &w, &e) != 0) {
        return api_error("wallet open", &e);
    }
    print_wallet(&w, r->json);
    return 0;
}

static int wallet_show(struct run *r)
{
    jz_wallet w;
    jz_error e;
    if (!client_of(r)) {
        return 1;
    }
    if (jz_wallet_get(r->client, r->id, &w, &e) != 0) {
        return api_error("wallet show", &e);
    }
    print_wallet(&w, r->json);
    return 0;
}

/* freeze, unfreeze and tier: one PATCH each. */
static int wallet_patch(struct run *r, const char *status, int tier)
{
    jz_wallet w;
    jz_error e;
    if (!client_of(r)) {
        return 1;
    }
    int rc = status ? jz_wallet_set_status(r->client, r->id, status, &w, &e)
                    : jz_wallet_set_tier(r->client, r->id, tier, &w, &e);
    if (rc != 0) {
        return api_error("wallet", &e);
    }
    print_wallet(&w, r->json);
    return 0;
}

static int wallet_freeze(struct run *r)
{
    return wallet_patch(r, "frozen", 0);
}

static int wallet_unfreeze(struct run *r)
{
    return wallet_patch(r, "active", 0);
}

static int wallet_tier(struct run *r)
{
    if (!need(r, "--tier")) {
        return 2;
    }
    int tier = (int)cli_opt_u64(r->argc, r->argv, "--tier", 0, 4);
    if (tier < 1) {
        return usage_error("--tier takes 1 to 4");
    }
    return wallet_patch(r, NULL, tier);
}

static int wallet_close(struct run *r)
{
    jz_wallet w;
    jz_error e;
    if (!client_of(r)) {
        return 1;
    }
    if (jz_wallet_close(r->client, r->id, &w, &e) != 0) {
        return api_error("wallet close", &e);
    }
    print_wallet(&w, r->json);
    return 0;
}

static int wallet_history(struct run *r)
{
    int limit = (int)cli_opt_u64(r->argc, r->argv, "--limit", 20, JZ_HISTORY_LIMIT_MAX);
    const char *first = cli_opt(r->argc, r->argv, "--cursor");
    bool all = cli_flag(r->argc, r->argv, "--all");
    if (limit < 1) {
        return usage_error("--limit takes 1 to %d", JZ_HISTORY_LIMIT_MAX);
    }
    jz_transfer *items = calloc((size_t)limit, sizeof *items);
    char cursor[JZ_CURSOR_SIZE];
    snprintf(cursor, sizeof cursor, "%s", first ? first : "");
    if (!items || !client_of(r)) {
        free(items);
        return 1;
    }
    int rc = 0;
    fputs(r->json ? "{\"transfers\":[" : "", stdout);
    for (size_t shown = 0;;) {
        size_t n = 0;
        jz_error e;
        char next[JZ_CURSOR_SIZE];
        if (jz_wallet_history(r->client, r->id, limit, cursor, items, &n, next, &e) != 0) {
            rc = api_error("wallet history", &e);
            break;
        }
        for (size_t i = 0; i < n; i++, shown++) {
            fputs(r->json && shown > 0 ? "," : "", stdout);
            print_transfer(&items[i], r->json);
        }
        /* A cursor that does not move would page forever: stop and say so. */
        bool stuck = all && next[0] && strcmp(next, cursor) == 0;
        memcpy(cursor, next, sizeof cursor);
        if (stuck) {
            fprintf(stderr, "jiaozi wallet history: the server repeated cursor %s\n", cursor);
            rc = 1;
        }
        if (!all || !cursor[0] || stuck) {
            break;
        }
    }
    if (r->json) {
        fputs("],", stdout);
        json_kv("next_cursor", rc == 0 ? cursor : "", false);
        fputs("}\n", stdout);
    } else if (rc == 0 && cursor[0]) {
        printf("more: --cursor %s\n", cursor);
    }
    free(items);
    return rc;
}

/* ---- transfers, quota, holds ------------------------------------------------------------- */

static int pay(struct run *r)
{
    bool bad = false;
    jz_transfer_spec s = {
        .id = opt_id(r, "--id", &bad),
        .kind = cli_opt(r->argc, r->argv, "--kind"),
        .ref = cli_opt(r->argc, r->argv, "--ref"),
        .memo = cli_opt(r->argc, r->argv, "--memo"),
    };
    s.debit = bad ? NULL : need_id(r, "--from");
    s.credit = s.debit ? need_id(r, "--to") : NULL;
    s.amount = s.credit ? need_amount(r) : -1;
    if (s.amount < 1) {
        return 2;
    }
    s.kind = s.kind ? s.kind : "p2p";
    jz_transfer t;
    jz_error e;
    if (!client_of(r)) {
        return 1;
    }
    if (jz_transfer_create(r->client, &s, &t, &e) != 0) {
        return api_error("pay", &e);
    }
    print_transfer(&t, r->json);
    fputs(r->json ? "\n" : "", stdout);
    return 0;
}

static int transfer_show(struct run *r)
{
    jz_transfer t;
    jz_error e;
    if (!client_of(r)) {
        return 1;
    }
    if (jz_transfer_get(r->client, r->id, &t, &e) != 0) {
        return api_error("transfer show", &e);
    }
    print_transfer(&t, r->json);
    fputs(r->json ? "\n" : "", stdout);
    return 0;
}

static int quota(struct run *r, bool issue)
{
    bool bad = false;
    const char *id = opt_id(r, "--id", &bad);
    const char *op = bad ? NULL : need(r, "--operator");
    int64_t amount = op ? need_amount(r) : -1;
    if (amount < 1) {
        return 2;
    }
    jz_transfer t;
    jz_error e;
    if (!client_of(r)) {
        return 1;
    }
    int rc = issue ? jz_quota_issue(r->client, id, op, amount, &t, &e)
                   : jz_quota_redeem(r->client, id, op, amount, &t, &e);
    if (rc != 0) {
        return api_error(issue ? "quota issue" : "quota redeem", &e);
    }
    print_transfer(&t, r->json);
    fputs(r->json ? "\n" : "", stdout);
    return 0;
}

static int quota_issue(struct run *r)
{
    return quota(r, true);
}

static int quota_redeem(struct run *r)
{
    return quota(r, false);
}

static int hold_create(struct run *r)
{
    bool bad = false;
    jz_hold_spec s = {
        .id = opt_id(r, "--id", &bad),
        .timeout_ms = (int64_t)cli_opt_u64(r->argc, r->argv, "--timeout-ms", 900000,
                                           INT64_MAX),
    };
    s.debit = bad ? NULL : need_id(r, "--from");
    s.credit = s.debit ? need_id(r, "--to") : NULL;
    s.amount = s.credit ? need_amount(r) : -1;
    if (s.amount < 1) {
        return 2;
    }
    jz_hold h;
    jz_error e;
    if (!client_of(r)) {
        return 1;
    }
    if (jz_hold_create(r->client, &s, &h, &e) != 0) {
        return api_error("hold create", &e);
    }
    print_hold(&h, r->json);
    return 0;
}

/* show, capture (with --amount or all) and void. */
static int hold_act(struct run *r, const char *what)
{
    int64_t amount = (int64_t)cli_opt_u64(r->argc, r->argv, "--amount", 0, JZ_AMOUNT_FEN_MAX);
    jz_hold h;
    jz_error e;
    if (!client_of(r)) {
        return 1;
    }
    int rc = strcmp(what, "show") == 0      ? jz_hold_get(r->client, r->id, &h, &e)
             : strcmp(what, "capture") == 0 ? jz_hold_capture(r->client, r->id, amount, &h, &e)
                                            : jz_hold_void(r->client, r->id, &h, &e);
    if (rc != 0) {
        char label[32];
        snprintf(label, sizeof label, "hold %s", what);
        return api_error(label, &e);
    }
    print_hold(&h, r->json);
    return 0;
}

static int hold_show(struct run *r)
{
    return hold_act(r, "show");
}

static int hold_capture(struct run *r)
{
    return hold_act(r, "capture");
}

static int hold_void(struct run *r)
{
    return hold_act(r, "void");
}

/* ---- institutions and audit -------------------------------------------------------------- */

static int institution_add(struct run *r)
{
    const char *id = need(r, "--id");
    const char *name = id ? need(r, "--name") : NULL;
    const char *out = cli_opt(r->argc, r->argv, "--out");
    if (!name) {
        return 2;
    }
    jz_credentials cred;
    jz_error e;
    if (!client_of(r)) {
        return 1;
    }
    if (jz_institution_create(r->client, id, name, &cred, &e) != 0) {
        return api_error("institution add", &e);
    }
    int rc = 0;
    char text[1024];
    if (!cred.secret[0]) {
        fprintf(stderr, "jiaozi institution add: %s existed already; its secret was shown only "
                        "when it was created\n", id);
        rc = 1;
    } else if (out && jz_credentials_save(&cred, out, &e) != 0) {
        rc = api_error("institution add", &e);
        fprintf(stderr, "the secret was not saved; it cannot be shown again\n");
    } else if (out) {
        printf("institution %s created: treasury %s, credentials in %s (mode 0600)\n", id,
               cred.treasury, out);
    } else if (jz_credentials_format(&cred, text, sizeof text) == 0) {
        fputs(text, stdout);
    }
    jz_credentials_clear(&cred);
    return rc;
}

static int institution_show(struct run *r)
{
    jz_institution in;
    jz_error e;
    if (!client_of(r)) {
        return 1;
    }
    if (jz_institution_get(r->client, r->id, &in, &e) != 0) {
        return api_error("institution show", &e);
    }
    print_institution(&in, r->json);
    fputs(r->json ? "\n" : "", stdout);
    return 0;
}

static int institution_list(struct run *r)
{
    enum { CAP = 1024 };
    jz_institution *items = calloc(CAP, sizeof *items);
    size_t n = 0;
    jz_error e;
    if (!items || !client_of(r)) {
        free(items);
        return 1;
    }
    if (jz_institution_list(r->client, items, CAP, &n, &e) != 0) {
        free(items);
        return api_error("institution list", &e);
    }
    fputs(r->json ? "{\"institutions\":[" : "", stdout);
    for (size_t i = 0; i < n && i < CAP; i++) {
        fputs(r->json && i > 0 ? "," : "", stdout);
        print_institution(&items[i], r->json);
    }
    fputs(r->json ? "]}\n" : "", stdout);
    free(items);
    return 0;
}

static int audit_head(struct run *r)
{
    jz_audit_head h;
    jz_error e;
    if (!client_of(r)) {
        return 1;
    }
    if (jz_audit_get_head(r->client, &h, &e) != 0) {
        return api_error("audit head", &e);
    }
    if (!r->json) {
        printf("audit head seq %" PRIu64 "  hash %s\nsignature %s\n%s", h.seq, h.hash,
               h.signature, h.public_key);
        return 0;
    }
    printf("{\"seq\":%" PRIu64 ",", h.seq);
    json_kv("hash", h.hash, true);
    json_kv("signature", h.signature, true);
    json_kv("public_key", h.public_key, false);
    fputs("}\n", stdout);
    return 0;
}

/* ---- the table of verbs -------------------------------------------------------------------- */

static const char *const no_options[] = {NULL};
static const char *const all_flag[] = {"--all", NULL};
static const char *const open_options[] = {"--id", "--kind", "--tier", "--form", "--parent",
                                           "--holder-name", "--holder-id-number",
                                           "--holder-phone", "--mcc", NULL};
static const char *const tier_options[] = {"--tier", NULL};
static const char *const history_options[] = {"--limit", "--cursor", NULL};
static const char *const pay_options[] = {"--from", "--to", "--amount", "--kind", "--id",
                                          "--ref", "--memo", NULL};
static const char *const quota_options[] = {"--operator", "--amount", "--id", NULL};
static const char *const hold_options[] = {"--from", "--to", "--amount", "--timeout-ms", "--id",
                                           NULL};
static const char *const amount_option[] = {"--amount", NULL};
static const char *const add_options[] = {"--id", "--name", "--out", NULL};

static const struct verb verbs[] = {
    {"wallet", "open", false, open_options, no_options,
     "usage: jiaozi wallet open --tier N [--kind personal|corporate|merchant] [--form soft|hard]\n"
     "           [--id ID] [--parent ID] [--holder-name S --holder-id-number S --holder-phone S]\n"
     "           [--mcc N]\n"
     "Opens a wallet of the credentials' operator (kind personal and form soft unless given;\n"
     "a random id unless --id). Replaying the same options with the same --id is harmless.\n",
     wallet_open},
    {"wallet", "show", true, no_options, no_options,
     "usage: jiaozi wallet show ID\nPrints the wallet: balance, held, available, limits used.\n",
     wallet_show},
    {"wallet", "history", true, history_options, all_flag,
     "usage: jiaozi wallet history ID [--limit N] [--cursor C] [--all]\n"
     "Prints the wallet's transfers, newest first, N a page (default 20, at most 1000); --cursor\n"
     "continues where a page ended, --all follows every page.\n",
     wallet_history},
    {"wallet", "freeze", true, no_options, no_options,
     "usage: jiaozi wallet freeze ID\nFreezes the wallet: no debit or credit until unfrozen.\n",
     wallet_freeze},
    {"wallet", "unfreeze", true, no_options, no_options,
     "usage: jiaozi wallet unfreeze ID\nMakes a frozen wallet active again.\n", wallet_unfreeze},
    {"wallet", "tier", true, tier_options, no_options,
     "usage: jiaozi wallet tier ID --tier N\nMoves the wallet to tier N (1-4).\n", wallet_tier},
    {"wallet", "close", true, no_options, no_options,
     "usage: jiaozi wallet close ID\nCloses the wallet (only at zero balance, no open hold).\n",
     wallet_close},
    {"pay", NULL, false, pay_options, no_options,
     "usage: jiaozi pay --from ID --to ID --amount FEN [--kind p2p] [--id ID] [--ref S]\n"
     "           [--memo S]\n"
     "Moves FEN fen from one wallet to another (kind p2p unless given: payment, bill, refund,\n"
     "exchange_in, exchange_out, disbursement). The id (random unless --id) makes a repeat of\n"
     "the same command harmless: it returns the first result.\n",
     pay},
    {"quota", "issue", false, quota_options, no_options,
     "usage: jiaozi quota issue --operator ID --amount FEN [--id ID]\n"
     "Central issues FEN fen of quota to the operator's treasury (central's credentials).\n",
     quota_issue},
    {"quota", "redeem", false, quota_options, no_options,
     "usage: jiaozi quota redeem --operator ID --amount FEN [--id ID]\n"
     "Central takes FEN fen of quota back from the operator's treasury.\n",
     quota_redeem},
    {"institution", "add", false, add_options, no_options,
     "usage: jiaozi institution add --id ID --name NAME [--out FILE]\n"
     "Creates an operator (central's credentials) and prints its credentials as JSON, or\n"
     "writes them to FILE with mode 0600 (never replacing a file). The secret is shown once.\n",
     institution_add},
    {"institution", "show", true, no_options, no_options,
     "usage: jiaozi institution show ID\nPrints the institution and its treasury wallet.\n",
     institution_show},
    {"institution", "list", false, no_options, no_options,
     "usage: jiaozi institution list\nPrints every institution (central's credentials).\n",
     institution_list},
    {"transfer", "show", true, no_options, no_options,
     "usage: jiaozi transfer show ID\nPrints the transfer.\n", transfer_show},
    {"hold", "create", false, hold_options, no_options,
     "usage: jiaozi hold create --from ID --to ID --amount FEN [--timeout-ms N] [--id ID]\n"
     "Reserves FEN fen on --from for --to until captured, voided or N ms pass (default\n"
     "900000).\n",
     hold_create},
    {"hold", "show", true, no_options, no_options, "usage: jiaozi hold show ID\n", hold_show},
    {"hold", "capture", true, amount_option, no_options,
     "usage: jiaozi hold capture ID [--amount FEN]\n"
     "Moves the held money (or FEN of it) to the payee and releases the rest.\n",
     hold_capture},
    {"hold", "void", true, no_options, no_options,
     "usage: jiaozi hold void ID\nReleases the reservation.\n", hold_void},
    {"audit", "head", false, no_options, no_options,
     "usage: jiaozi audit head\nPrints the signed head of the node's audit chain (SM3 hash\n"
     "chain, SM2 signature and the node's public key).\n",
     audit_head},
};

bool cli_client_owns(const char *command, int argc, char **argv)
{
    if (strcmp(command, "audit") == 0) {
        return argc > 0 && strcmp(argv[0], "head") == 0;
    }
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        if (strcmp(verbs[i].command, command) == 0) {
            return true;
        }
    }
    return false;
}

/* The command's verbs, for its --help or a missing or unknown verb. */
static int command_help(const char *command, bool asked)
{
    FILE *f = asked ? stdout : stderr;
    fprintf(f, "usage: jiaozi %s VERB [options]   (jiaozi %s VERB --help for each)\n", command,
            command);
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        if (strcmp(verbs[i].command, command) == 0) {
            fprintf(f, "  %.*s", (int)strcspn(verbs[i].help + 7, "\n"), verbs[i].help + 7);
            fputc('\n', f);
        }
    }
    fputs(common_help, f);
    return asked ? 0 : 2;
}

static const struct verb *find_verb(const char *command, const char *name)
{
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        const struct verb *v = &verbs[i];
        if (strcmp(v->command, command) == 0 &&
            (v->name == NULL || (name && strcmp(v->name, name) == 0))) {
            return v;
        }
    }
    return NULL;
}

/* Checks the options against the verb's own plus the common ones. */
static int check_options(const struct verb *v, int argc, char **argv)
{
    const char *known[24] = {"--credentials"};
    const char *flags[8] = {"--json", "--help"};
    size_t k = 1;
    size_t f = 2;
    for (const char *const *o = v->options; *o && k + 1 < 24; o++) {
        known[k++] = *o;
    }
    for (const char *const *o = v->flags; *o && f + 1 < 8; o++) {
        flags[f++] = *o;
    }
    return cli_check_options(argc, argv, known, flags);
}

int cli_client(const char *command, int argc, char **argv)
{
    const struct verb *v = find_verb(command, argc > 0 ? argv[0] : NULL);
    if (!v) {
        bool asked = argc > 0 && strcmp(argv[0], "--help") == 0;
        if (!asked && argc > 0) {
            fprintf(stderr, "jiaozi %s: unknown verb \"%s\"\n", command, argv[0]);
        }
        return command_help(command, asked);
    }
    struct run r = {.argc = argc - (v->name != NULL), .argv = argv + (v->name != NULL)};
    if (cli_flag(r.argc, r.argv, "--help")) {
        fputs(v->help, stdout);
        fputs(common_help, stdout);
        return 0;
    }
    if (v->takes_id) {
        if (r.argc < 1 || strncmp(r.argv[0], "--", 2) == 0) {
            return usage_error("%s %s needs an ID", command, v->name);
        }
        r.id = r.argv[0];
        r.argc--;
        r.argv++;
        bool institution = strcmp(command, "institution") == 0;
        if (!institution && !jz_id_valid(r.id)) {
            return usage_error("ID must be 32 lowercase hex digits, not \"%s\"", r.id);
        }
    }
    if (check_options(v, r.argc, r.argv) != 0) {
        return 2;
    }
    r.json = cli_flag(r.argc, r.argv, "--json");
    int rc = v->fn(&r);
    jz_client_free(r.client);
    return rc;
}
