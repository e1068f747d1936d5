/*
 * clearing.c: fee schedule, fees, netting, reconciliation and settlement files (clearing.h).
 */
#include "clearing.h"

#include <inttypes.h>

#include "ledger.h"

static const char *const role_names[] = {"customer", "merchant", "central", NULL};
static const char *const kind_names[] = {"payment", "bill", "refund", NULL};
static const uint8_t kind_values[] = {LEDGER_KIND_PAYMENT, LEDGER_KIND_BILL, LEDGER_KIND_REFUND};

/* ---- The default schedule ---- */

/* Interchange: the merchant's institution pays the customer's 0.30% of a payment (0.15% at
 * supermarkets, MCC 5411), nothing on bills (public services), and a refund gives it back at
 * the same rates. Switch fees to the clearing centre on each side: 0.01% + 0.01 CNY, at most
 * 5 CNY. docs/clearing.md shows the same text. */
static const char default_schedule[] =
    "{\"version\":\"default-1\",\"fees\":["
    "{\"name\":\"interchange\",\"charged_to\":\"merchant\",\"paid_to\":\"customer\",\"rules\":["
    "{\"kinds\":[\"payment\"],\"mcc\":\"5411\",\"rate_ppm\":1500},"
    "{\"kinds\":[\"payment\"],\"mcc\":\"*\",\"rate_ppm\":3000}]},"
    "{\"name\":\"interchange_back\",\"charged_to\":\"customer\",\"paid_to\":\"merchant\","
    "\"rules\":["
    "{\"kinds\":[\"refund\"],\"mcc\":\"5411\",\"rate_ppm\":1500},"
    "{\"kinds\":[\"refund\"],\"mcc\":\"*\",\"rate_ppm\":3000}]},"
    "{\"name\":\"switch_customer\",\"charged_to\":\"customer\",\"paid_to\":\"central\","
    "\"rules\":[{\"kinds\":[\"payment\",\"bill\",\"refund\"],\"mcc\":\"*\",\"rate_ppm\":100,"
    "\"fixed\":1,\"max\":500}]},"
    "{\"name\":\"switch_merchant\",\"charged_to\":\"merchant\",\"paid_to\":\"central\","
    "\"rules\":[{\"kinds\":[\"payment\",\"bill\",\"refund\"],\"mcc\":\"*\",\"rate_ppm\":100,"
    "\"fixed\":1,\"max\":500}]}]}";

void clearing_schedule_default(struct clearing_schedule *out)
{
    struct api_error e;
    ASSERT(clearing_schedule_parse(default_schedule, sizeof default_schedule - 1, out, &e) == 0);
}

/* ---- Parsing ---- */

static int parse_mcc(const char *s, uint16_t *lo, uint16_t *hi)
{
    if (strcmp(s, "*") == 0) {
        *lo = 0;
        *hi = CLEARING_MCC_MAX;
        return 0;
    }
    unsigned v[2] = {0, 0};
    int parts = 0;
    const char *p = s;
    while (parts < 2) {
        size_t digits = strspn(p, "0123456789");
        if (digits < 1 || digits > 4) {
            return -1;
        }
        for (size_t i = 0; i < digits; i++) {
            v[parts] = v[parts] * 10 + (unsigned)(p[i] - '0');
        }
        p += digits;
        parts++;
        if (*p != '-') {
            break;
        }
        p++;
    }
    if (*p != '\0') {
        return -1;
    }
    if (parts == 1) {
        v[1] = v[0];
    }
    if (v[0] > v[1]) {
        return -1;
    }
    *lo = (uint16_t)v[0];
    *hi = (uint16_t)v[1];
    return 0;
}

/* prefix + field into out (cut to fit): the name an error reports. */
static void field_name(char *out, size_t cap, const char *prefix, const char *field)
{
    size_t a = strlen(prefix);
    size_t b = strlen(field);
    a = a < cap - 1 ? a : cap - 1;
    b = b < cap - 1 - a ? b : cap - 1 - a;
    memcpy(out, prefix, a);
    memcpy(out + a, field, b);
    out[a + b] = '\0';
}

static int parse_kinds(json_t *arr, const char *name, uint32_t *out, struct api_error *e)
{
    size_t n = json_array_size(arr);
    uint32_t bits = 0;
    if (n < 1 || n > 3) {
        return api_fail(e, JZ_INVALID_FIELD, name, "%s lists 1 to 3 of payment, bill, refund",
                        name);
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        uint32_t bit = 0;
        for (int k = 0; kind_names[k]; k++) {
            if (strcmp(s, kind_names[k]) == 0) {
                bit = CLEARING_KIND_BIT(kind_values[k]);
            }
        }
        if (bit == 0 || (bits & bit)) {
            return api_fail(e, JZ_INVALID_FIELD, name,
                            "%s lists each of payment, bill, refund at most once", name);
        }
        bits |= bit;
    }
    *out = bits;
    return 0;
}

static int parse_rule(json_t *obj, const char *prefix, struct clearing_rule *r, struct api_error *e)
{
    json_t *kinds = NULL;
    char mcc[16] = "";
    char name[80];
    bool max_given = false;
    int64_t max = -1;
    memset(r, 0, sizeof *r);
    const struct field_spec specs[] = {
        {.name = "kinds", .type = FIELD_ARRAY, .required = true, .out = &kinds},
        {.name = "mcc", .type = FIELD_STRING, .required = true, .out = mcc, .min = 1, .max = 9},
        {.name = "rate_ppm",
         .type = FIELD_INT,
         .required = true,
         .out = &r->rate_ppm,
         .min = 0,
         .max = CLEARING_PPM},
        {.name = "fixed", .type = FIELD_INT, .out = &r->fixed, .min = 0, .max = JZ_AMOUNT_MAX},
        {.name = "min", .type = FIELD_INT, .out = &r->min, .min = 0, .max = JZ_AMOUNT_MAX},
        {.name = "max",
         .type = FIELD_INT,
         .out = &max,
         .present = &max_given,
         .min = 0,
         .max = JZ_AMOUNT_MAX,
         .allow_null = true},
    };
    if (json_fields_parse(obj, specs, JZ_ARRAY_LEN(specs), prefix, e) != 0) {
        return -1;
    }
    field_name(name, sizeof name, prefix, "kinds");
    if (parse_kinds(kinds, name, &r->kinds, e) != 0) {
        return -1;
    }
    if (parse_mcc(mcc, &r->mcc_min, &r->mcc_max) != 0) {
        field_name(name, sizeof name, prefix, "mcc");
        return api_fail(e, JZ_INVALID_FIELD, name,
                        "%s is \"*\", a category (\"5411\") or a range (\"4900-4999\") of 0-9999",
                        name);
    }
    r->max = max_given ? max : -1;
    if (max_given && max < r->min) {
        field_name(name, sizeof name, prefix, "max");
        return api_fail(e, JZ_INVALID_FIELD, name, "%s must not be below min", name);
    }
    return 0;
}

static bool fee_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= CLEARING_FEE_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static int parse_fee(json_t *obj, const char *prefix, const struct clearing_schedule *sofar,
                     struct clearing_fee *f, struct api_error *e)
{
    json_t *rules = NULL;
    int charged = 0;
    int paid = 0;
    char name[80];
    memset(f, 0, sizeof *f);
    const struct field_spec specs[] = {
        {.name = "name",
         .type = FIELD_STRING,
         .required = true,
         .out = f->name,
         .min = 1,
         .max = CLEARING_FEE_NAME_MAX},
        {.name = "charged_to",
         .type = FIELD_ENUM,
         .required = true,
         .out = &charged,
         .choices = role_names},
        {.name = "paid_to",
         .type = FIELD_ENUM,
         .required = true,
         .out = &paid,
         .choices = role_names},
        {.name = "rules", .type = FIELD_ARRAY, .required = true, .out = &rules},
    };
    if (json_fields_parse(obj, specs, JZ_ARRAY_LEN(specs), prefix, e) != 0) {
        return -1;
    }
    field_name(name, sizeof name, prefix, "name");
    if (!fee_name_ok(f->name)) {
        return api_fail(e, JZ_INVALID_FIELD, name, "%s is 1-16 characters [a-z0-9_]", name);
    }
    for (uint32_t i = 0; i < sofar->nfees; i++) {
        if (strcmp(sofar->fees[i].name, f->name) == 0) {
            return api_fail(e, JZ_INVALID_FIELD, name, "%s is used by another fee", name);
        }
    }
    field_name(name, sizeof name, prefix, "charged_to");
    if (charged == CLEARING_ROLE_CENTRAL) {
        return api_fail(e, JZ_INVALID_FIELD, name, "%s is customer or merchant", name);
    }
    if (paid == charged) {
        field_name(name, sizeof name, prefix, "paid_to");
        return api_fail(e, JZ_INVALID_FIELD, name, "%s must differ from charged_to", name);
    }
    f->charged_to = (uint8_t)charged;
    f->paid_to = (uint8_t)paid;
    size_t n = json_array_size(rules);
    if (n < 1 || n > CLEARING_RULES_MAX) {
        field_name(name, sizeof name, prefix, "rules");
        return api_fail(e, JZ_INVALID_FIELD, name, "%s holds 1 to %d rules", name,
                        CLEARING_RULES_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%srules[%zu].", prefix, i);
        if (parse_rule(json_array_get(rules, i), name, &f->rules[i], e) != 0) {
            return -1;
        }
    }
    f->nrules = (uint32_t)n;
    return 0;
}

int clearing_schedule_from_json(json_t *root, struct clearing_schedule *out, struct api_error *e)
{
    struct clearing_schedule *s = calloc(1, sizeof *s);
    json_t *fees = NULL;
    int rc = -1;
    if (!s) {
        return api_fail(e, JZ_UNAVAILABLE, "", "out of memory");
    }
    const struct field_spec specs[] = {
        {.name = "version",
         .type = FIELD_STRING,
         .required = true,
         .out = s->version,
         .min = 1,
         .max = CLEARING_VERSION_MAX},
        {.name = "fees", .type = FIELD_ARRAY, .required = true, .out = &fees},
    };
    if (json_fields_parse(root, specs, JZ_ARRAY_LEN(specs), "", e) != 0) {
        goto done;
    }
    if (json_array_size(fees) > CLEARING_FEES_MAX) {
        api_fail(e, JZ_INVALID_FIELD, "fees", "a schedule has at most %d fees", CLEARING_FEES_MAX);
        goto done;
    }
    for (size_t i = 0; i < json_array_size(fees); i++) {
        char prefix[40];
        snprintf(prefix, sizeof prefix, "fees[%zu].", i);
        if (parse_fee(json_array_get(fees, i), prefix, s, &s->fees[i], e) != 0) {
            goto done;
        }
        s->nfees++;
    }
    *out = *s;
    rc = 0;
done:
    free(s);
    return rc;
}

int clearing_schedule_parse(const char *text, size_t len, struct clearing_schedule *out,
                            struct api_error *e)
{
    json_t *root = json_parse_body(text, len, e);
    if (!root) {
        return -1;
    }
    int rc = clearing_schedule_from_json(root, out, e);
    json_decref(root);
    return rc;
}

void clearing_schedule_write(const struct clearing_schedule *s, struct jbuf *out)
{
    jb_lit(out, "{\"version\":");
    jb_cstr(out, s->version);
    jb_lit(out, ",\"fees\":[");
    for (uint32_t i = 0; i < s->nfees; i++) {
        const struct clearing_fee *f = &s->fees[i];
        jb_lit(out, i ? ",{\"name\":" : "{\"name\":");
        jb_cstr(out, f->name);
        jb_lit(out, ",\"charged_to\":");
        jb_cstr(out, role_names[f->charged_to - 1]);
        jb_lit(out, ",\"paid_to\":");
        jb_cstr(out, role_names[f->paid_to - 1]);
        jb_lit(out, ",\"rules\":[");
        for (uint32_t k = 0; k < f->nrules; k++) {
            const struct clearing_rule *r = &f->rules[k];
            jb_lit(out, k ? ",{\"kinds\":[" : "{\"kinds\":[");
            bool first = true;
            for (int x = 0; kind_names[x]; x++) {
                if (r->kinds & CLEARING_KIND_BIT(kind_values[x])) {
                    jb_lit(out, first ? "" : ",");
                    jb_cstr(out, kind_names[x]);
                    first = false;
                }
            }
            char mcc[16];
            if (r->mcc_min == 0 && r->mcc_max == CLEARING_MCC_MAX) {
                snprintf(mcc, sizeof mcc, "*");
            } else if (r->mcc_min == r->mcc_max) {
                snprintf(mcc, sizeof mcc, "%u", (unsigned)r->mcc_min);
            } else {
                snprintf(mcc, sizeof mcc, "%u-%u", (unsigned)r->mcc_min, (unsigned)r->mcc_max);
            }
            jb_lit(out, "],\"mcc\":");
            jb_cstr(out, mcc);
            jb_lit(out, ",\"rate_ppm\":");
            jb_int(out, r->rate_ppm);
            jb_lit(out, ",\"fixed\":");
            jb_int(out, r->fixed);
            jb_lit(out, ",\"min\":");
            jb_int(out, r->min);
            jb_lit(out, ",\"max\":");
            if (r->max < 0) {
                jb_lit(out, "null");
            } else {
                jb_int(out, r->max);
            }
            jb_lit(out, "}");
        }
        jb_lit(out, "]}");
    }
    jb_lit(out, "]}");
}

/* ---- Fees ---- */

int64_t clearing_fee_amount(const struct clearing_rule *r, int64_t amount)
{
    ASSERT(amount > 0 && amount <= JZ_AMOUNT_MAX);
    ASSERT(r->rate_ppm >= 0 && r->rate_ppm <= CLEARING_PPM && r->fixed >= 0);
    /* Half-up: add half the divisor before the (exact, 128-bit) division. */
    __int128 scaled = (__int128)amount * r->rate_ppm + CLEARING_PPM / 2;
    int64_t fee = (int64_t)(scaled / CLEARING_PPM); /* <= amount */
    fee += r->fixed;                                /* both <= 9e15: no overflow */
    if (fee < r->min) {
        fee = r->min;
    }
    if (r->max >= 0 && fee > r->max) {
        fee = r->max;
    }
    return fee > amount ? amount : fee;
}

const struct clearing_rule *clearing_fee_rule(const struct clearing_fee *f, uint8_t kind,
                                              uint16_t mcc)
{
    for (uint32_t i = 0; i < f->nrules; i++) {
        const struct clearing_rule *r = &f->rules[i];
        if ((r->kinds & CLEARING_KIND_BIT(kind)) && mcc >= r->mcc_min && mcc <= r->mcc_max) {
            return r;
        }
    }
    return NULL;
}

bool clearing_kind_clears(uint8_t kind)
{
    return kind == LEDGER_KIND_PAYMENT || kind == LEDGER_KIND_BILL || kind == LEDGER_KIND_REFUND ||
           kind == LEDGER_KIND_ADJUSTMENT;
}

uint32_t clearing_item_fees(const struct clearing_schedule *s, const struct clearing_item *it,
                            struct clearing_fee_line out[CLEARING_FEES_MAX])
{
    if (it->kind == LEDGER_KIND_ADJUSTMENT) {
        return 0;
    }
    bool refund = it->kind == LEDGER_KIND_REFUND;
    uint16_t inst[4] = {0, refund ? it->to : it->from, refund ? it->from : it->to, 0};
    uint32_t n = 0;
    for (uint32_t f = 0; f < s->nfees; f++) {
        const struct clearing_rule *r = clearing_fee_rule(&s->fees[f], it->kind, it->mcc);
        if (!r) {
            continue;
        }
        int64_t fee = clearing_fee_amount(r, it->amount);
        if (fee > 0) {
            out[n++] = (struct clearing_fee_line){.fee = (uint8_t)f,
                                                  .payer = inst[s->fees[f].charged_to],
                                                  .payee = inst[s->fees[f].paid_to],
                                                  .amount = fee};
        }
    }
    return n;
}

/* ---- Netting ---- */

int clearing_net_init(struct clearing_net *net, uint32_t n, uint32_t nfees)
{
    ASSERT(n >= 1 && n <= JZ_INSTITUTIONS_MAX && nfees <= CLEARING_FEES_MAX);
    memset(net, 0, sizeof *net);
    size_t cells = (size_t)n * n;
    size_t fee_cells = cells * (nfees ? nfees : 1);
    net->n = n;
    net->nfees = nfees;
    net->gross = calloc(cells, sizeof *net->gross);
    net->count = calloc(cells, sizeof *net->count);
    net->fees = calloc(fee_cells, sizeof *net->fees);
    net->fee_count = calloc(fee_cells, sizeof *net->fee_count);
    if (!net->gross || !net->count || !net->fees || !net->fee_count) {
        clearing_net_free(net);
        return -1;
    }
    return 0;
}

void clearing_net_free(struct clearing_net *net)
{
    free(net->gross);
    free(net->count);
    free(net->fees);
    free(net->fee_count);
    memset(net, 0, sizeof *net);
}

static size_t fee_cell(const struct clearing_net *net, uint32_t f, uint32_t i, uint32_t j)
{
    return ((size_t)f * net->n + i) * net->n + j;
}

int clearing_net_grow(struct clearing_net *net, uint32_t n)
{
    ASSERT(n > net->n);
    struct clearing_net bigger;
    if (clearing_net_init(&bigger, n, net->nfees) != 0) {
        return -1;
    }
    for (uint32_t i = 0; i < net->n; i++) {
        for (uint32_t j = 0; j < net->n; j++) {
            bigger.gross[(size_t)i * n + j] = net->gross[(size_t)i * net->n + j];
            bigger.count[(size_t)i * n + j] = net->count[(size_t)i * net->n + j];
            for (uint32_t f = 0; f < net->nfees; f++) {
                bigger.fees[fee_cell(&bigger, f, i, j)] = net->fees[fee_cell(net, f, i, j)];
                bigger.fee_count[fee_cell(&bigger, f, i, j)] =
                    net->fee_count[fee_cell(net, f, i, j)];
            }
        }
    }
    bigger.items = net->items;
    bigger.overflow = net->overflow;
    memcpy(bigger.kind_count, net->kind_count, sizeof bigger.kind_count);
    clearing_net_free(net);
    *net = bigger;
    return 0;
}

int clearing_net_add(struct clearing_net *net, const struct clearing_schedule *s,
                     const struct clearing_item *it)
{
    ASSERT(it->from < net->n && it->to < net->n && it->from != it->to);
    ASSERT(s->nfees <= net->nfees || s->nfees == 0);
    struct clearing_fee_line lines[CLEARING_FEES_MAX];
    uint32_t nl = clearing_item_fees(s, it, lines);
    size_t cell = (size_t)it->from * net->n + it->to;
    int64_t gross;
    int64_t sums[CLEARING_FEES_MAX];
    /* Check every sum first, so that an overflowing item changes nothing. */
    bool over = jz_add_overflows(net->gross[cell], it->amount, &gross);
    for (uint32_t k = 0; k < nl && !over; k++) {
        over =
            jz_add_overflows(net->fees[fee_cell(net, lines[k].fee, lines[k].payer, lines[k].payee)],
                             lines[k].amount, &sums[k]);
    }
    if (over) {
        net->overflow = true;
        return -1;
    }
    net->gross[cell] = gross;
    net->count[cell]++;
    for (uint32_t k = 0; k < nl; k++) {
        size_t fc = fee_cell(net, lines[k].fee, lines[k].payer, lines[k].payee);
        net->fees[fc] = sums[k];
        net->fee_count[fc]++;
    }
    net->items++;
    net->kind_count[it->kind & 15]++;
    return 0;
}

static bool add_into(int64_t *acc, int64_t v)
{
    return jz_add_overflows(*acc, v, acc);
}

int clearing_net_pair(const struct clearing_net *net, uint32_t i, uint32_t j,
                      struct clearing_position *out)
{
    ASSERT(i < net->n && j < net->n);
    memset(out, 0, sizeof *out);
    if (i == j) {
        return 0;
    }
    out->pay = net->gross[(size_t)i * net->n + j];
    out->recv = net->gross[(size_t)j * net->n + i];
    out->pay_count = net->count[(size_t)i * net->n + j];
    out->recv_count = net->count[(size_t)j * net->n + i];
    bool over = false;
    for (uint32_t f = 0; f < net->nfees; f++) {
        over |= add_into(&out->fees_pay, net->fees[fee_cell(net, f, i, j)]);
        over |= add_into(&out->fees_recv, net->fees[fee_cell(net, f, j, i)]);
    }
    int64_t in = out->recv;
    int64_t owed = out->pay;
    over |= add_into(&in, out->fees_recv);
    over |= add_into(&owed, out->fees_pay);
    over |= jz_sub_overflows(in, owed, &out->net);
    return over ? -1 : 0;
}

int clearing_net_total(const struct clearing_net *net, uint32_t i, struct clearing_position *out)
{
    struct clearing_position t;
    memset(&t, 0, sizeof t);
    bool over = false;
    for (uint32_t j = 0; j < net->n; j++) {
        struct clearing_position p;
        over |= clearing_net_pair(net, i, j, &p) != 0;
        t.pay_count += p.pay_count;
        t.recv_count += p.recv_count;
        over |= add_into(&t.pay, p.pay);
        over |= add_into(&t.recv, p.recv);
        over |= add_into(&t.fees_pay, p.fees_pay);
        over |= add_into(&t.fees_recv, p.fees_recv);
        over |= add_into(&t.net, p.net);
    }
    *out = t;
    return over ? -1 : 0;
}

/* ---- Reconciliation ---- */

const char *clearing_diff_name(int cls)
{
    switch (cls) {
    case CLEARING_DIFF_MISSING_HERE: return "missing_here";
    case CLEARING_DIFF_MISSING_THERE: return "missing_there";
    case CLEARING_DIFF_AMOUNT: return "amount_mismatch";
    case CLEARING_DIFF_DUPLICATE: return "duplicate";
    default: return "";
    }
}

/* A record line and where it stood in its record: the first occurrence of an id is the one
 * compared, later ones are its duplicates. */
struct ranked {
    jz_id id;
    int64_t amount;
    size_t rank;
};

static int ranked_cmp(const void *a, const void *b)
{
    const struct ranked *x = a;
    const struct ranked *y = b;
    int c = memcmp(x->id.b, y->id.b, sizeof x->id.b);
    if (c != 0) {
        return c;
    }
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

static struct ranked *ranked_of(const struct clearing_record *r, size_t n)
{
    struct ranked *out = malloc((n ? n : 1) * sizeof *out);
    if (!out) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = (struct ranked){.id = r[i].id, .amount = r[i].amount, .rank = i};
    }
    qsort(out, n, sizeof *out, ranked_cmp);
    return out;
}

/* Length of the run of equal ids at a[i]. */
static size_t run_of(const struct ranked *a, size_t n, size_t i)
{
    size_t k = i;
    while (k < n && jz_id_eq(&a[k].id, &a[i].id)) {
        k++;
    }
    return k - i;
}

int clearing_reconcile(const struct clearing_record *ours, size_t n_ours,
                       const struct clearing_record *theirs, size_t n_theirs,
                       struct clearing_diff **out, size_t *n_out)
{
    struct ranked *a = ranked_of(ours, n_ours);
    struct ranked *b = ranked_of(theirs, n_theirs);
    /* At most one difference per line of either record. */
    struct clearing_diff *d = malloc((n_ours + n_theirs + 1) * sizeof *d);
    if (!a || !b || !d) {
        free(a);
        free(b);
        free(d);
        return -1;
    }
    size_t nd = 0;
    size_t i = 0;
    size_t k = 0;
    while (i < n_ours || k < n_theirs) {
        int c = i == n_ours ? 1 : k == n_theirs ? -1 : memcmp(a[i].id.b, b[k].id.b, 16);
        size_t ro = c <= 0 ? run_of(a, n_ours, i) : 0;
        size_t rt = c >= 0 ? run_of(b, n_theirs, k) : 0;
        jz_id id = c <= 0 ? a[i].id : b[k].id;
        int64_t mine = ro ? a[i].amount : 0;
        int64_t yours = rt ? b[k].amount : 0;
        if (ro && !rt) {
            d[nd++] =
                (struct clearing_diff){.cls = CLEARING_DIFF_MISSING_THERE, .id = id, .ours = mine};
        } else if (!ro && rt) {
            d[nd++] = (struct clearing_diff){
                .cls = CLEARING_DIFF_MISSING_HERE, .id = id, .theirs = yours};
        } else if (mine != yours) {
            d[nd++] = (struct clearing_diff){
                .cls = CLEARING_DIFF_AMOUNT, .id = id, .ours = mine, .theirs = yours};
        }
        for (size_t x = 1; x < ro; x++) {
            d[nd++] = (struct clearing_diff){
                .cls = CLEARING_DIFF_DUPLICATE, .side = 1, .id = id, .ours = a[i + x].amount};
        }
        for (size_t x = 1; x < rt; x++) {
            d[nd++] = (struct clearing_diff){
                .cls = CLEARING_DIFF_DUPLICATE, .side = 2, .id = id, .theirs = b[k + x].amount};
        }
        i += ro;
        k += rt;
    }
    ASSERT(nd <= n_ours + n_theirs);
    free(a);
    free(b);
    *out = d;
    *n_out = nd;
    return 0;
}

/* ---- Settlement files ---- */

const char *clearing_trigger_name(int trigger)
{
    return trigger == CLEARING_TRIGGER_SCHEDULE ? "scheduled" : "demand";
}

/* Comma-separated integers, each preceded by a comma. */
static void csv_ints(struct jbuf *b, const int64_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        jb_lit(b, ",");
        jb_int(b, v[i]);
    }
}

static void position_ints(const struct clearing_position *p, int64_t v[7])
{
    v[0] = (int64_t)p->pay_count;
    v[1] = p->pay;
    v[2] = (int64_t)p->recv_count;
    v[3] = p->recv;
    v[4] = p->fees_pay;
    v[5] = p->fees_recv;
    v[6] = p->net;
}

static bool pair_active(const struct clearing_position *p)
{
    return p->pay_count || p->recv_count || p->fees_pay || p->fees_recv;
}

void clearing_write_csv(const struct clearing_cycle_info *cy, const struct clearing_net *net,
                        const struct clearing_schedule *s, const char *const *names, uint32_t inst,
                        struct jbuf *out)
{
    char hex[65];
    int64_t v[7];
    jz_hex_encode(cy->schedule_sm3, 32, hex);
    jb_lit(out, "H,1");
    jb_lit(out, ",");
    jb_uint(out, cy->id);
    jb_lit(out, ",");
    jb_lit(out, names[inst]);
    int64_t head[4] = {cy->opened_at, cy->closed_at, (int64_t)cy->from_pos, (int64_t)cy->to_pos};
    csv_ints(out, head, 4);
    jb_lit(out, ",");
    jb_lit(out, clearing_trigger_name(cy->trigger));
    jb_lit(out, ",");
    jb_lit(out, hex);
    jb_lit(out, "\n");
    for (uint32_t j = 0; j < net->n; j++) {
        struct clearing_position p;
        if (j == inst || clearing_net_pair(net, inst, j, &p) != 0 || !pair_active(&p)) {
            continue;
        }
        jb_lit(out, "P,");
        jb_lit(out, names[j]);
        position_ints(&p, v);
        csv_ints(out, v, 7);
        jb_lit(out, "\n");
    }
    for (uint32_t f = 0; f < net->nfees && f < s->nfees; f++) {
        for (uint32_t j = 0; j < net->n; j++) {
            for (int dir = 0; dir < 2 && j != inst; dir++) {
                size_t c = dir == 0 ? fee_cell(net, f, inst, j) : fee_cell(net, f, j, inst);
                if (net->fee_count[c] == 0) {
                    continue;
                }
                jb_lit(out, "F,");
                jb_lit(out, s->fees[f].name);
                jb_lit(out, ",");
                jb_lit(out, names[j]);
                jb_lit(out, dir == 0 ? ",payable" : ",receivable");
                int64_t fv[2] = {(int64_t)net->fee_count[c], net->fees[c]};
                csv_ints(out, fv, 2);
                jb_lit(out, "\n");
            }
        }
    }
    struct clearing_position t;
    (void)clearing_net_total(net, inst, &t); /* the cycle closed without overflow */
    jb_lit(out, "T");
    position_ints(&t, v);
    csv_ints(out, v, 7);
    jb_lit(out, "\n");
}

static void json_position(struct jbuf *b, const struct clearing_position *p)
{
    jb_lit(b, "\"payable\":{\"count\":");
    jb_uint(b, p->pay_count);
    jb_lit(b, ",\"amount\":");
    jb_int(b, p->pay);
    jb_lit(b, "},\"receivable\":{\"count\":");
    jb_uint(b, p->recv_count);
    jb_lit(b, ",\"amount\":");
    jb_int(b, p->recv);
    jb_lit(b, "},\"fees_payable\":");
    jb_int(b, p->fees_pay);
    jb_lit(b, ",\"fees_receivable\":");
    jb_int(b, p->fees_recv);
    jb_lit(b, ",\"net\":");
    jb_int(b, p->net);
}

void clearing_write_cycle_head(const struct clearing_cycle_info *cy, struct jbuf *b)
{
    char hex[65];
    jz_hex_encode(cy->schedule_sm3, 32, hex);
    jb_lit(b, "\"cycle\":");
    jb_uint(b, cy->id);
    jb_lit(b, ",\"opened_at\":");
    jb_int(b, cy->opened_at);
    jb_lit(b, ",\"closed_at\":");
    jb_int(b, cy->closed_at);
    jb_lit(b, ",\"from\":");
    jb_uint(b, cy->from_pos);
    jb_lit(b, ",\"to\":");
    jb_uint(b, cy->to_pos);
    jb_lit(b, ",\"trigger\":");
    jb_cstr(b, clearing_trigger_name(cy->trigger));
    jb_lit(b, ",\"schedule\":");
    jb_cstr(b, hex);
    jb_lit(b, ",\"status\":");
    jb_cstr(b, cy->status == JZ_OK ? "settled" : "failed");
}

void clearing_write_json(const struct clearing_cycle_info *cy, const struct clearing_net *net,
                         const struct clearing_schedule *s, const char *const *names, uint32_t inst,
                         struct jbuf *out)
{
    jb_lit(out, "{\"format\":\"jiaozi-settlement\",\"version\":1,");
    clearing_write_cycle_head(cy, out);
    jb_lit(out, ",\"institution\":");
    jb_cstr(out, names[inst]);
    jb_lit(out, ",\"positions\":[");
    bool first = true;
    for (uint32_t j = 0; j < net->n; j++) {
        struct clearing_position p;
        if (j == inst || clearing_net_pair(net, inst, j, &p) != 0 || !pair_active(&p)) {
            continue;
        }
        jb_lit(out, first ? "{\"counterparty\":" : ",{\"counterparty\":");
        first = false;
        jb_cstr(out, names[j]);
        jb_lit(out, ",");
        json_position(out, &p);
        jb_lit(out, "}");
    }
    jb_lit(out, "],\"fees\":[");
    first = true;
    for (uint32_t f = 0; f < net->nfees && f < s->nfees; f++) {
        for (uint32_t j = 0; j < net->n; j++) {
            for (int dir = 0; dir < 2 && j != inst; dir++) {
                size_t c = dir == 0 ? fee_cell(net, f, inst, j) : fee_cell(net, f, j, inst);
                if (net->fee_count[c] == 0) {
                    continue;
                }
                jb_lit(out, first ? "{\"fee\":" : ",{\"fee\":");
                first = false;
                jb_cstr(out, s->fees[f].name);
                jb_lit(out, ",\"counterparty\":");
                jb_cstr(out, names[j]);
                jb_lit(out,
                       dir == 0 ? ",\"direction\":\"payable\"" : ",\"direction\":\"receivable\"");
                jb_lit(out, ",\"count\":");
                jb_uint(out, net->fee_count[c]);
                jb_lit(out, ",\"amount\":");
                jb_int(out, net->fees[c]);
                jb_lit(out, "}");
            }
        }
    }
    struct clearing_position t;
    (void)clearing_net_total(net, inst, &t);
    jb_lit(out, "],\"total\":{");
    json_position(out, &t);
    jb_lit(out, "}}");
}

void clearing_write_cycle(const struct clearing_cycle_info *cy, const struct clearing_net *net,
                          const char *const *names, struct jbuf *out)
{
    static const struct {
        const char *name;
        uint8_t kind;
    } kinds[] = {{"payment", LEDGER_KIND_PAYMENT},
                 {"bill", LEDGER_KIND_BILL},
                 {"refund", LEDGER_KIND_REFUND},
                 {"adjustment", LEDGER_KIND_ADJUSTMENT}};
    jb_lit(out, "{");
    clearing_write_cycle_head(cy, out);
    jb_lit(out, ",\"items\":");
    jb_uint(out, net->items);
    jb_lit(out, ",\"kinds\":{");
    for (size_t k = 0; k < JZ_ARRAY_LEN(kinds); k++) {
        jb_key(out, kinds[k].name, k == 0);
        jb_uint(out, net->kind_count[kinds[k].kind]);
    }
    int64_t gross = 0;
    int64_t fees = 0;
    int64_t net_sum = 0;
    jb_lit(out, "},\"institutions\":[");
    for (uint32_t i = 0; i < net->n; i++) {
        struct clearing_position t;
        (void)clearing_net_total(net, i, &t);
        (void)add_into(&gross, t.pay);
        (void)add_into(&fees, t.fees_pay);
        (void)add_into(&net_sum, t.net);
        jb_lit(out, i ? ",{\"institution\":" : "{\"institution\":");
        jb_cstr(out, names[i]);
        jb_lit(out, ",");
        json_position(out, &t);
        jb_lit(out, "}");
    }
    jb_lit(out, "],\"pairs\":[");
    bool first = true;
    for (uint32_t i = 0; i < net->n; i++) {
        for (uint32_t j = 0; j < net->n; j++) {
            struct clearing_position p;
            if (i == j || clearing_net_pair(net, i, j, &p) != 0 || (!p.pay_count && !p.fees_pay)) {
                continue;
            }
            jb_lit(out, first ? "{\"from\":" : ",{\"from\":");
            first = false;
            jb_cstr(out, names[i]);
            jb_lit(out, ",\"to\":");
            jb_cstr(out, names[j]);
            jb_lit(out, ",\"count\":");
            jb_uint(out, p.pay_count);
            jb_lit(out, ",\"amount\":");
            jb_int(out, p.pay);
            jb_lit(out, ",\"fees\":");
            jb_int(out, p.fees_pay);
            jb_lit(out, "}");
        }
    }
    jb_lit(out, "],\"gross\":");
    jb_int(out, gross);
    jb_lit(out, ",\"fees\":");
    jb_int(out, fees);
    jb_lit(out, ",\"net_sum\":");
    jb_int(out, net_sum);
    jb_lit(out, "}");
}

void clearing_write_items_csv(const struct clearing_cycle_info *cy,
                              const struct clearing_schedule *s, const char *const *names,
                              uint32_t inst, const struct clearing_item *items, size_t n,
                              struct jbuf *out)
{
    char hex[33];
    int64_t t[7] = {0};
    jb_lit(out, "H,1,");
    jb_uint(out, cy->id);
    jb_lit(out, ",");
    jb_lit(out, names[inst]);
    int64_t head[2] = {(int64_t)cy->from_pos, (int64_t)cy->to_pos};
    csv_ints(out, head, 2);
    jb_lit(out, "\n");
    for (size_t i = 0; i < n; i++) {
        const struct clearing_item *it = &items[i];
        bool pays = it->from == inst;
        if (!pays && it->to != inst) {
            continue;
        }
        struct clearing_fee_line lines[CLEARING_FEES_MAX];
        uint32_t nl = clearing_item_fees(s, it, lines);
        int64_t fees[2] = {0, 0};
        for (uint32_t k = 0; k < nl; k++) {
            fees[0] += lines[k].payer == inst ? lines[k].amount : 0;
            fees[1] += lines[k].payee == inst ? lines[k].amount : 0;
        }
        jz_id_to_hex(&it->id, hex);
        jb_lit(out, "I,");
        jb_raw(out, hex, 32);
        int64_t v[2] = {(int64_t)it->pos, it->timestamp};
        csv_ints(out, v, 2);
        jb_lit(out, ",");
        jb_lit(out, ledger_kind_name(it->kind));
        jb_lit(out, pays ? ",pay," : ",receive,");
        jb_lit(out, names[pays ? it->to : it->from]);
        int64_t w[4] = {it->amount, it->mcc, fees[0], fees[1]};
        csv_ints(out, w, 4);
        jb_lit(out, "\n");
        t[0]++;
        t[pays ? 1 : 3]++;
        t[pays ? 2 : 4] += it->amount;
        t[5] += fees[0];
        t[6] += fees[1];
    }
    jb_lit(out, "T");
    csv_ints(out, t, 7);
    jb_lit(out, "\n");
}
