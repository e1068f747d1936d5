/*
 * scenario_bill.c: billers, bill files, bill payments and the daily paid-bills file (issue
 * 7, item 2). The CSV formats are documented in docs/scenarios.md.
 *
 * A bill is paid by a transfer of kind bill whose id is derived from the biller and the
 * bill's reference ("bill-payment"), for exactly the bill's amount: a bill is paid at most
 * once, whoever tries (the same payer again is the ledger's replay, anyone else id_conflict).
 * The paid-bills file of a day (UTC+8, by the ledger's timestamp of the payment) first
 * settles, from the ledger, any payment that became durable without its row being marked.
 */
#include <inttypes.h>

#include "crypto.h"
#include "ledger.h"
#include "scenario_int.h"

#define BILLS_PER_FILE_MAX 10000
#define CSV_HEADER "reference,amount,due_date,payer_name"
#define PAID_HEADER "reference,amount,paid_at,transfer\n"

static const char *const categories[] = {"water", "power", "gas", "tv", "traffic_fine", "phone",
                                         NULL};

static void write_biller(api_call *c, const struct scen_biller *b)
{
    struct jbuf *o = api_call_out(c);
    jb_lit(o, "{\"wallet\":");
    jb_id(o, &b->wallet);
    jb_lit(o, ",\"operator\":");
    jb_cstr(o, api_institution_id(api_call_api(c), (uint32_t)b->operator_index));
    jb_lit(o, ",\"name\":");
    jb_cstr(o, b->name);
    jb_lit(o, ",\"category\":");
    jb_cstr(o, b->category);
    jb_lit(o, ",\"created_at\":");
    jb_int(o, b->created_at);
    jb_lit(o, "}");
}

/* The biller of the path (any institution may look one up); with own, only its operator. */
static int biller_of_path(api_call *c, bool own, struct scen_biller *b)
{
    jz_id id;
    if (scen_path_id(c, 0, &id) != 0 ||
        !scen_found(c, scen_store_biller_get(scen_of(c)->store, &id, b), JZ_BILLER_NOT_FOUND, "id",
                    "no such biller")) {
        return -1;
    }
    if (own && !api_call_is_central(c) && b->operator_index != api_call_actor(c)) {
        api_call_fail(c, JZ_FORBIDDEN, "id", "the biller belongs to another institution");
        return -1;
    }
    return 0;
}

void scen_h_biller_create(api_call *c, json_t *body)
{
    struct scen_biller b;
    struct ledger_wallet_view w;
    struct api_error e;
    int category = 0;
    memset(&b, 0, sizeof b);
    const struct field_spec specs[] = {
        {.name = "wallet", .type = FIELD_ID, .required = true, .out = &b.wallet},
        {.name = "name", .type = FIELD_STRING, .required = true, .out = b.name, .min = 1,
         .max = SCEN_NAME_MAX},
        {.name = "category", .type = FIELD_ENUM, .required = true, .out = &category,
         .choices = categories},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    if (api_call_wallet(c, &b.wallet, "wallet", &w) != 0) {
        return;
    }
    if ((w.kind != LEDGER_WALLET_MERCHANT && w.kind != LEDGER_WALLET_CORPORATE) || w.restricted) {
        api_call_fail(c, JZ_INVALID_FIELD, "wallet",
                      "a biller is an unrestricted merchant or corporate wallet");
        return;
    }
    snprintf(b.category, sizeof b.category, "%s", categories[category - 1]);
    b.operator_index = w.operator_index;
    b.created_at = api_now_ms(api_call_api(c));
    struct scen *s = scen_of(c);
    struct scen_biller old;
    int rc = scen_store_biller_get(s->store, &b.wallet, &old);
    if (rc == 1) {
        if (scen_note(c, SCEN_EV_BILLER, &b.wallet, NULL, category, b.name, strlen(b.name)) != 0) {
            return;
        }
        rc = scen_store_biller_put(s->store, &b);
        if (rc == 0) {
            write_biller(c, &b);
            api_call_respond(c, 201);
            return;
        }
        rc = rc == 1 ? scen_store_biller_get(s->store, &b.wallet, &old) : -1;
    }
    if (rc != 0) {
        scen_fail_store(c);
    } else if (strcmp(old.name, b.name) != 0 || strcmp(old.category, b.category) != 0) {
        api_call_fail(c, JZ_ID_CONFLICT, strcmp(old.name, b.name) ? "name" : "category",
                      "this wallet is a biller with other details");
    } else {
        write_biller(c, &old);
        api_call_respond(c, 200);
    }
}

void scen_h_biller_get(api_call *c, json_t *body)
{
    (void)body;
    struct scen_biller b;
    if (biller_of_path(c, false, &b) == 0) {
        write_biller(c, &b);
        api_call_respond(c, 200);
    }
}

/* ---- The bill file ---- */

/* Length of the UTF-8 sequence at s (1-4), or 0 when it is not one or is a control. */
static size_t utf8_char(const unsigned char *s, size_t left)
{
    if (s[0] < 0x20 || s[0] == 0x7f) {
        return 0;
    }
    size_t n = s[0] < 0x80 ? 1 : (s[0] >> 5) == 6 ? 2 : (s[0] >> 4) == 14 ? 3
                                 : (s[0] >> 3) == 30 ? 4 : 0;
    if (n == 0 || n > left) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return n;
}

/* The masked name: its first character, then one '*' per further character. */
static int mask_name(const char *name, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_char((const unsigned char *)name + i, len - i);
        if (n == 0) {
            return -1;
        }
        size_t add = i == 0 ? n : 1;
        if (o + add >= cap) {
            return -1;
        }
        memcpy(out + o, i == 0 ? name : "*", add);
        o += add;
        i += n;
    }
    out[o] = '\0';
    return o > 0 ? 0 : -1;
}

static bool reference_ok(const char *s, size_t n)
{
    if (n < 1 || n > SCEN_BILL_REF_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_')) {
            return false;
        }
    }
    return true;
}

/* One data line "reference,amount,due_date,payer_name" into *b; NULL or what is wrong. */
static const char *parse_line(char *line, struct scen_bill *b)
{
    char *f[4];
    int commas = 0;
    for (const char *p = line; *p; p++) {
        commas += *p == ',';
    }
    if (commas != 3) {
        return "a bill has 4 fields: reference,amount,due_date,payer_name";
    }
    f[0] = line;
    for (int k = 1; k < 4; k++) {
        char *comma = strchr(f[k - 1], ',');
        *comma = '\0';
        f[k] = comma + 1;
    }
    if (!reference_ok(f[0], strlen(f[0]))) {
        return "the reference is 1-32 characters [A-Za-z0-9_-]";
    }
    char *end = NULL;
    long long amount = strtoll(f[1], &end, 10);
    if (f[1][0] < '1' || f[1][0] > '9' || *end != '\0' || amount < 1 || amount > JZ_AMOUNT_MAX) {
        return "the amount is an integer of fen, 1 to 9000000000000000";
    }
    int32_t day;
    if (jz_day_of_date(f[2], &day) != 0) {
        return "the due date is YYYY-MM-DD";
    }
    if (strlen(f[3]) > JZ_HOLDER_NAME_MAX ||
        mask_name(f[3], strlen(f[3]), b->payer_name, sizeof b->payer_name) != 0) {
        return "the payer name is 1-64 bytes of printable UTF-8";
    }
    snprintf(b->reference, sizeof b->reference, "%s", f[0]);
    b->amount = amount;
    snprintf(b->due_date, sizeof b->due_date, "%s", f[2]);
    return NULL;
}

/* The whole file: all lines valid (and no reference twice) or none taken. Returns the count,
 * or -1 with the response set. */
static int parse_file(api_call *c, char *csv, const jz_id *biller, int64_t now,
                      struct scen_bill *bills)
{
    int n = 0;
    int line_no = 0;
    char *save = NULL;
    for (char *line = strtok_r(csv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r') {
            line[--len] = '\0';
        }
        const char *why = NULL;
        if (line_no == 1) {
            why = strcmp(line, CSV_HEADER) == 0 ? NULL : "the first line is " CSV_HEADER;
        } else if (n == BILLS_PER_FILE_MAX) {
            why = "a file holds at most 10000 bills";
        } else {
            memset(&bills[n], 0, sizeof bills[n]);
            bills[n].biller = *biller;
            bills[n].uploaded_at = now;
            why = parse_line(line, &bills[n]);
            for (int k = 0; !why && k < n; k++) {
                why = strcmp(bills[k].reference, bills[n].reference) == 0
                          ? "the reference appears twice in the file" : NULL;
            }
            n += why ? 0 : 1;
        }
        if (why) {
            char msg[160];
            snprintf(msg, sizeof msg, "line %d: %s", line_no, why);
            api_call_fail(c, JZ_INVALID_FIELD, "csv", msg);
            return -1;
        }
    }
    if (line_no == 0 || n == 0) {
        api_call_fail(c, JZ_INVALID_FIELD, "csv", "the file has a header line and 1+ bills");
        return -1;
    }
    return n;
}

/* The only field of the body: "csv" (a string). NULL with the response set otherwise. */
static const char *csv_of(api_call *c, json_t *body)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        if (strcmp(key, "csv") != 0) {
            api_call_fail(c, JZ_UNKNOWN_FIELD, key, "the body has one field: csv");
            return NULL;
        }
    }
    v = json_object_get(body, "csv");
    if (!v || !json_is_string(v)) {
        api_call_fail(c, v ? JZ_INVALID_FIELD : JZ_MISSING_FIELD, "csv",
                      "csv is the bill file as a string");
        return NULL;
    }
    return json_string_value(v);
}

static void store_bills(api_call *c, const struct scen_biller *b, struct scen_bill *bills, int n,
                        const uint8_t digest[CRYPTO_SM3_BYTES])
{
    uint32_t unchanged = 0;
    uint32_t conflict = 0;
    if (scen_note(c, SCEN_EV_BILLS, &b->wallet, NULL, n, digest, CRYPTO_SM3_BYTES) != 0) {
        return;
    }
    int rc = scen_store_bills_put(scen_of(c)->store, bills, (uint32_t)n, &unchanged, &conflict);
    if (rc < 0) {
        scen_fail_store(c);
        return;
    }
    if (rc == 1) {
        char msg[160];
        snprintf(msg, sizeof msg, "reference %s was uploaded before with other details",
                 bills[conflict].reference);
        api_call_fail(c, JZ_ID_CONFLICT, "csv", msg);
        return;
    }
    char hex[2 * CRYPTO_SM3_BYTES + 1];
    jz_hex_encode(digest, CRYPTO_SM3_BYTES, hex);
    struct jbuf *o = api_call_out(c);
    jb_lit(o, "{\"biller\":");
    jb_id(o, &b->wallet);
    jb_lit(o, ",\"bills\":");
    jb_int(o, n);
    jb_lit(o, ",\"new\":");
    jb_int(o, n - (int)unchanged);
    jb_lit(o, ",\"unchanged\":");
    jb_int(o, unchanged);
    jb_lit(o, ",\"sm3\":");
    jb_cstr(o, hex);
    jb_lit(o, "}");
    api_call_respond(c, 200);
}

void scen_h_bills_upload(api_call *c, json_t *body)
{
    struct scen_biller b;
    const char *text = csv_of(c, body);
    if (!text || biller_of_path(c, true, &b) != 0) {
        return;
    }
    uint8_t digest[CRYPTO_SM3_BYTES];
    char *csv = strdup(text);
    struct scen_bill *bills = calloc(BILLS_PER_FILE_MAX, sizeof *bills);
    if (!csv || !bills || crypto_sm3(text, strlen(text), digest) != 0) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
    } else {
        int n = parse_file(c, csv, &b.wallet, api_now_ms(api_call_api(c)), bills);
        if (n > 0) {
            store_bills(c, &b, bills, n, digest);
        }
    }
    free(csv);
    free(bills);
}

/* ---- Looking up and paying a bill ---- */

/* A bill of the biller b (already found) by reference. 0 or -1 answered. */
static int bill_find(api_call *c, const struct scen_biller *b, const char *ref, const char *field,
                     struct scen_bill *bill)
{
    int rc = reference_ok(ref, strlen(ref)) ? scen_store_bill_get(scen_of(c)->store, &b->wallet,
                                                                  ref, bill)
                                            : 1;
    return scen_found(c, rc, JZ_BILL_NOT_FOUND, field, "no such bill") ? 0 : -1;
}

static void bill_transfer_id(const struct scen_bill *bill, jz_id *out)
{
    scen_derive("bill-payment", bill->biller.b, 16, bill->reference, strlen(bill->reference), out);
}

/* Marks a bill paid when the ledger has its payment (a crash between the two). */
static void bill_settle(api_call *c, struct scen_bill *bill)
{
    struct ledger_result r;
    jz_id t;
    bill_transfer_id(bill, &t);
    if (bill->paid_at == 0 && scen_transfer_result(c, &t, &r) == 0 && r.code == JZ_OK &&
        scen_store_bill_paid(scen_of(c)->store, &bill->biller, bill->reference, &bill->payer, &t,
                             r.timestamp) == 0) {
        bill->paid_at = r.timestamp;
        bill->transfer = t;
    }
}

static void write_bill(api_call *c, const struct scen_biller *b, const struct scen_bill *bill)
{
    jz_id t;
    bill_transfer_id(bill, &t);
    struct jbuf *o = api_call_out(c);
    jb_lit(o, "{\"biller\":");
    jb_id(o, &bill->biller);
    jb_lit(o, ",\"biller_name\":");
    jb_cstr(o, b->name);
    jb_lit(o, ",\"category\":");
    jb_cstr(o, b->category);
    jb_lit(o, ",\"reference\":");
    jb_cstr(o, bill->reference);
    jb_lit(o, ",\"amount\":");
    jb_int(o, bill->amount);
    jb_lit(o, ",\"due_date\":");
    jb_cstr(o, bill->due_date);
    jb_lit(o, ",\"payer_name\":");
    jb_cstr(o, bill->payer_name);
    jb_lit(o, bill->paid_at ? ",\"status\":\"paid\",\"paid_at\":" : ",\"status\":\"unpaid\",\"paid_at\":null");
    if (bill->paid_at) {
        jb_int(o, bill->paid_at);
    }
    jb_lit(o, ",\"payment\":");
    jb_id(o, &t);
    jb_lit(o, "}");
}

void scen_h_bill_get(api_call *c, json_t *body)
{
    (void)body;
    struct scen_biller b;
    struct scen_bill bill;
    if (biller_of_path(c, false, &b) == 0 &&
        bill_find(c, &b, api_call_param(c, 1), "reference", &bill) == 0) {
        bill_settle(c, &bill);
        write_bill(c, &b, &bill);
        api_call_respond(c, 200);
    }
}

void scen_h_bill_pay(api_call *c, json_t *body)
{
    struct scen_biller b;
    struct scen_bill bill;
    struct ledger_cmd cmd;
    char memo[JZ_MEMO_MAX + 1] = "";
    char reference[SCEN_BILL_REF_MAX + 1] = "";
    struct api_error e;
    memset(&cmd, 0, sizeof cmd);
    const struct field_spec specs[] = {
        {.name = "reference", .type = FIELD_STRING, .required = true, .out = reference, .min = 1,
         .max = SCEN_BILL_REF_MAX},
        {.name = "debit", .type = FIELD_ID, .required = true, .out = &cmd.debit},
        {.name = "amount", .type = FIELD_AMOUNT, .required = true, .out = &cmd.amount},
        {.name = "memo", .type = FIELD_STRING, .out = memo, .min = 0, .max = JZ_MEMO_MAX},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    if (biller_of_path(c, false, &b) != 0 || bill_find(c, &b, reference, "reference", &bill) != 0) {
        return;
    }
    if (cmd.amount != bill.amount) {
        api_call_fail(c, JZ_BILL_AMOUNT_MISMATCH, "amount", "the amount differs from the bill's");
        return;
    }
    cmd.op = LEDGER_OP_TRANSFER;
    cmd.kind = LEDGER_KIND_BILL;
    cmd.actor = (uint16_t)api_call_actor(c);
    cmd.credit = b.wallet;
    bill_transfer_id(&bill, &cmd.id);
    cmd.ref_len = (uint8_t)strlen(bill.reference);
    memcpy(cmd.ref, bill.reference, cmd.ref_len);
    cmd.memo_len = (uint8_t)strlen(memo);
    memcpy(cmd.memo, memo, cmd.memo_len);
    struct ledger_result r;
    if (api_call_run(c, &cmd, 1, &r, NULL, NULL) != 0) {
        return;
    }
    if (r.code != JZ_OK) {
        api_call_fail_result(c, &r);
        return;
    }
    if (scen_store_bill_paid(scen_of(c)->store, &b.wallet, bill.reference, &cmd.debit, &cmd.id,
                             r.timestamp) != 0) {
        scen_fail_store(c);
        return;
    }
    struct jbuf *o = api_call_out(c);
    scen_write_transfer(o, &cmd, r.timestamp, true);
    jb_lit(o, ",\"bill\":");
    jb_cstr(o, bill.reference);
    jb_lit(o, "}");
    api_call_respond(c, r.replayed ? 200 : 201);
}

/* ---- The daily paid-bills file ---- */

struct unpaid {
    struct scen_bill *bills;
    uint32_t n, cap;
};

static void collect_unpaid(void *ctx, const struct scen_bill *b)
{
    struct unpaid *u = ctx;
    if (u->n == u->cap) {
        uint32_t cap = u->cap ? 2 * u->cap : 256;
        struct scen_bill *p = realloc(u->bills, cap * sizeof *p);
        if (!p) {
            return;
        }
        u->bills = p;
        u->cap = cap;
    }
    u->bills[u->n++] = *b;
}

struct results_read {
    const jz_id *ids;
    struct ledger_result *r;
    bool *known;
    uint32_t n;
};

static void read_results(const ledger *l, void *ctx)
{
    struct results_read *q = ctx;
    for (uint32_t i = 0; i < q->n; i++) {
        q->known[i] = ledger_transfer_result(l, &q->ids[i], &q->r[i]) == 0;
    }
}

/* Marks every bill of the biller the ledger knows as paid (one read of the ledger). */
static int settle_biller(api_call *c, const jz_id *biller)
{
    struct unpaid u = {0};
    int rc = scen_store_bills_unpaid(scen_of(c)->store, biller, collect_unpaid, &u);
    jz_id *ids = calloc(u.n + 1, sizeof *ids);
    struct ledger_result *r = calloc(u.n + 1, sizeof *r);
    bool *known = calloc(u.n + 1, sizeof *known);
    if (rc != 0 || !ids || !r || !known) {
        scen_fail_store(c);
        rc = -1;
        goto done;
    }
    for (uint32_t i = 0; i < u.n; i++) {
        bill_transfer_id(&u.bills[i], &ids[i]);
    }
    struct results_read q = {.ids = ids, .r = r, .known = known, .n = u.n};
    rc = api_call_read(c, read_results, &q);
    for (uint32_t i = 0; rc == 0 && i < u.n; i++) {
        if (known[i] && r[i].code == JZ_OK &&
            scen_store_bill_paid(scen_of(c)->store, biller, u.bills[i].reference,
                                 &u.bills[i].payer, &ids[i], r[i].timestamp) != 0) {
            scen_fail_store(c);
            rc = -1;
        }
    }
done:
    free(u.bills);
    free(ids);
    free(r);
    free(known);
    return rc;
}

struct paid_file {
    struct jbuf csv;
    int64_t count, total;
};

static void add_paid(void *ctx, const struct scen_bill *b)
{
    struct paid_file *f = ctx;
    char line[160];
    char t[33];
    jz_id_to_hex(&b->transfer, t);
    t[32] = '\0';
    snprintf(line, sizeof line, "%s,%" PRId64 ",%" PRId64 ",%s\n", b->reference, b->amount,
             b->paid_at, t);
    jb_lit(&f->csv, line);
    f->count++;
    f->total += b->amount;
}

/* date=YYYY-MM-DD from the query string into a UTC+8 day. */
static int date_param(api_call *c, char date[11], int32_t *day)
{
    const char *q = api_call_query(c);
    if (strncmp(q, "date=", 5) != 0 || strlen(q + 5) != 10) {
        api_call_fail(c, strncmp(q, "date=", 5) == 0 || q[0] == '\0' ? JZ_INVALID_FIELD
                                                                      : JZ_UNKNOWN_FIELD,
                      "date", "the query is date=YYYY-MM-DD (a day in UTC+8)");
        return -1;
    }
    memcpy(date, q + 5, 11);
    if (jz_day_of_date(date, day) != 0) {
        api_call_fail(c, JZ_INVALID_FIELD, "date", "the query is date=YYYY-MM-DD (a day in UTC+8)");
        return -1;
    }
    return 0;
}

void scen_h_bills_paid(api_call *c, json_t *body)
{
    (void)body;
    struct scen_biller b;
    char date[11];
    int32_t day;
    if (biller_of_path(c, true, &b) != 0 || date_param(c, date, &day) != 0 ||
        settle_biller(c, &b.wallet) != 0) {
        return;
    }
    const int64_t day_ms = 86400000LL;
    int64_t from = (int64_t)day * day_ms - 8 * 3600000LL; /* UTC+8 midnight */
    struct paid_file f = {0};
    jb_init(&f.csv);
    jb_lit(&f.csv, PAID_HEADER);
    uint8_t digest[CRYPTO_SM3_BYTES];
    char hex[2 * CRYPTO_SM3_BYTES + 1];
    if (scen_store_bills_paid_between(scen_of(c)->store, &b.wallet, from, from + day_ms, add_paid,
                                      &f) != 0 ||
        f.csv.failed || crypto_sm3(f.csv.p, f.csv.len, digest) != 0) {
        scen_fail_store(c);
        jb_free(&f.csv);
        return;
    }
    jz_hex_encode(digest, sizeof digest, hex);
    struct jbuf *o = api_call_out(c);
    jb_lit(o, "{\"biller\":");
    jb_id(o, &b.wallet);
    jb_lit(o, ",\"date\":");
    jb_cstr(o, date);
    jb_lit(o, ",\"count\":");
    jb_int(o, f.count);
    jb_lit(o, ",\"total\":");
    jb_int(o, f.total);
    jb_lit(o, ",\"csv\":");
    jb_str(o, f.csv.p, f.csv.len);
    jb_lit(o, ",\"sm3\":");
    jb_cstr(o, hex);
    jb_lit(o, "}");
    jb_free(&f.csv);
    api_call_respond(c, 200);
}
