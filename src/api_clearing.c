/*
 * api_clearing.c: the clearing module's routes for cycles, files, fees, the cut-off schedule
 * and reconciliation, its scheduler thread, and its registration (api_clearing.h).
 */
#include "api_clearing_int.h"

#include <errno.h>
#include <inttypes.h>
#include <time.h>

#include "command.h"
#include "ledger.h"

#define LIST_LIMIT_MAX 100
#define MS_PER_DAY (24LL * 3600 * 1000)
#define UTC8_MS (8LL * 3600 * 1000)

/* ---- Helpers shared with api_clearing_adj.c ---- */

const char *clr_role_name(int role)
{
    return role == CLR_ROLE_OFFICER ? "clearing_officer" : "operator";
}

void clr_fail_store(api_call *c)
{
    api_call_fail(c, JZ_UNAVAILABLE, "", "clearing.db could not be read or written");
}

void clr_derive_id(const char *label, const jz_id *in, jz_id *out)
{
    uint8_t buf[64];
    uint8_t h[CRYPTO_SM3_BYTES];
    size_t n = strlen(label);
    ASSERT(n + 16 <= sizeof buf);
    memcpy(buf, label, n);
    memcpy(buf + n, in->b, 16);
    ASSERT(crypto_sm3(buf, n + 16, h) == 0);
    memcpy(out->b, h, 16);
}

int clr_check_reason(api_call *c, const char *reason, bool present)
{
    if (!present) {
        api_call_fail(c, JZ_MISSING_FIELD, "reason", "a reason is required");
        return -1;
    }
    if (strspn(reason, " \t\r\n") == strlen(reason)) {
        api_call_fail(c, JZ_INVALID_FIELD, "reason", "the reason must say something");
        return -1;
    }
    return 0;
}

int clr_note(api_call *c, uint8_t type, const jz_id *subject, const jz_id *other, int64_t number,
             const void *rest, size_t rest_len)
{
    uint8_t data[JZ_HOLDER_SEALED_MAX];
    ASSERT(rest_len + 1 <= sizeof data);
    data[0] = type;
    if (rest_len) {
        memcpy(data + 1, rest, rest_len);
    }
    return api_call_note(c, LEDGER_NOTE_CLEARING, subject, other, number, data, rest_len + 1);
}

/* A decimal in 1..INT64_MAX, or -1. */
static int64_t parse_decimal(const char *s, size_t n)
{
    if (n == 0 || n > 18 || strspn(s, "0123456789") < n || s[0] == '0') {
        return -1;
    }
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int clr_cycle_param(api_call *c, struct clr *k, int i, struct clearing_cycle_info *out)
{
    const char *p = api_call_param(c, i);
    int64_t id = parse_decimal(p, strlen(p));
    if (id < 1) {
        api_call_fail(c, JZ_INVALID_FIELD, "id", "a cycle is a number from 1");
        return -1;
    }
    int rc = clearing_engine_cycle_info(k->eng, (uint64_t)id, out);
    if (rc < 0) {
        clr_fail_store(c);
    } else if (rc > 0) {
        api_call_fail(c, JZ_NOT_FOUND, "id", "no such cycle");
    }
    return rc == 0 ? 0 : -1;
}

/* Query parameters limit (1..LIST_LIMIT_MAX) and before (a cycle). -1 with the response set
 * when one is malformed or unknown. */
static int list_params(api_call *c, int64_t *limit, int64_t *before)
{
    *limit = 20;
    *before = 0;
    for (const char *q = api_call_query(c); *q;) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        size_t name = eq ? (size_t)(eq - q) : n;
        int64_t v = eq ? parse_decimal(eq + 1, n - name - 1) : -1;
        if (name == 5 && memcmp(q, "limit", 5) == 0 && v >= 1 && v <= LIST_LIMIT_MAX) {
            *limit = v;
        } else if (name == 6 && memcmp(q, "before", 6) == 0 && v >= 1) {
            *before = v;
        } else {
            api_call_fail(c, JZ_INVALID_FIELD, name == 6 ? "before" : "limit",
                          "the query takes limit (1-100) and before (a cycle)");
            return -1;
        }
        q += n + (q[n] == '&');
    }
    return 0;
}

/* ---- Cut-offs ---- */

/* Journals a cut-off and closes its cycle, with the lock held. c is NULL for the scheduler.
 * 0 with *cycle, or -1 (with the response set when there is a call). */
static int cutoff(struct clr *k, api_call *c, uint8_t trigger, uint64_t *cycle)
{
    uint8_t sm3[32];
    struct ledger_cmd cmd;
    struct ledger_result r = {.code = JZ_OK};
    uint64_t want = clearing_engine_last_cycle(k->eng) + 1;
    (void)clearing_engine_fees(k->eng, sm3);
    if (clearing_engine_set_pending(k->eng, true) != 0) {
        if (c) {
            clr_fail_store(c);
        }
        return -1;
    }
    int rc = 0;
    if (c) {
        clearing_cutoff_note(&cmd, trigger, sm3, want);
        rc = api_call_run(c, &cmd, 1, &r, NULL, NULL); /* on failure the response says why */
        if (rc == 0 && r.code != JZ_OK) {
            api_call_fail_result(c, &r);
            rc = -1;
        }
    } else {
        rc = clearing_cutoff_submit(k->ex, trigger, sm3, want);
    }
    if (rc != 0) {
        return -1;
    }
    char err[512] = "";
    uint64_t closed = 0;
    if (clearing_engine_catch_up(k->eng, executor_durable_seq(k->ex), node_signing_key(k->nd),
                                 &closed, err, sizeof err) != 0 ||
        closed == 0) {
        fprintf(stderr, "jiaozi: clearing: cut-off not closed: %s\n",
                err[0] ? err : "its note was not found");
        if (c) {
            api_call_fail(c, JZ_UNAVAILABLE, "", "the cycle could not be closed");
        }
        return -1;
    }
    *cycle = clearing_engine_last_cycle(k->eng);
    return 0;
}

/* Writes the stored document (kind, key) as the response; 404 when absent. */
static void respond_doc(api_call *c, struct clr *k, const char *kind, const char *key, int status)
{
    char *body = NULL;
    size_t len = 0;
    int rc = store_clearing_get_doc(k->st, kind, key, &body, &len, NULL, NULL);
    if (rc < 0) {
        clr_fail_store(c);
    } else if (rc > 0) {
        api_call_fail(c, JZ_NOT_FOUND, "", "not found");
    } else {
        jb_raw(api_call_out(c), body, len);
        api_call_respond(c, status);
    }
    free(body);
}

static void h_cutoff(api_call *c, json_t *body)
{
    struct clr *k = api_call_state(c);
    struct api_error e;
    if (body && json_fields_parse(body, NULL, 0, "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    pthread_mutex_lock(&k->mu);
    uint64_t cycle = 0;
    if (cutoff(k, c, CLEARING_TRIGGER_DEMAND, &cycle) == 0) {
        char key[32];
        snprintf(key, sizeof key, CLEARING_CYCLE_KEY_FMT, (unsigned long long)cycle);
        respond_doc(c, k, "cycle", key, 201);
    }
    pthread_mutex_unlock(&k->mu);
}

/* ---- Scheduled cut-offs ---- */

/* When the next scheduled cut-off is due (ms), or INT64_MAX when none is. Lock held. */
static int64_t next_due(const struct clr *k)
{
    int64_t base = clearing_engine_last_closed_at(k->eng);
    base = base > 0 ? base : k->started_ms;
    int64_t due = INT64_MAX;
    if (k->every_ms > 0) {
        due = base + k->every_ms;
    }
    if (k->daily_at_min >= 0) {
        int64_t local = base + UTC8_MS;
        int64_t midnight = local - ((local % MS_PER_DAY) + MS_PER_DAY) % MS_PER_DAY;
        int64_t at = midnight + (int64_t)k->daily_at_min * 60000 - UTC8_MS;
        if (at <= base) {
            at += MS_PER_DAY;
        }
        due = at < due ? at : due;
    }
    return due;
}

static void wait_ms(struct clr *k, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    (void)pthread_cond_timedwait(&k->cond, &k->mu, &until);
}

static void *scheduler_main(void *arg)
{
    struct clr *k = arg;
    pthread_setname_np(pthread_self(), "jz-clearing");
    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        int64_t due = next_due(k);
        int64_t now = api_now_ms(k->a);
        if (due != INT64_MAX && now >= due) {
            uint64_t cycle = 0;
            if (cutoff(k, NULL, CLEARING_TRIGGER_SCHEDULE, &cycle) != 0) {
                wait_ms(k, 1000); /* the node is failing or busy: try again in a second */
            }
            continue;
        }
        /* At most a second: the settings or the clock may change meanwhile. */
        wait_ms(k, due == INT64_MAX || due - now > 1000 ? 1000 : due - now);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

static void write_schedule(struct clr *k, struct jbuf *b)
{
    jb_lit(b, "{\"every_ms\":");
    if (k->every_ms > 0) {
        jb_int(b, k->every_ms);
    } else {
        jb_lit(b, "null");
    }
    jb_lit(b, ",\"daily_at\":");
    if (k->daily_at_min >= 0) {
        char hm[8];
        snprintf(hm, sizeof hm, "%02d:%02d", k->daily_at_min / 60 % 24, k->daily_at_min % 60);
        jb_cstr(b, hm);
    } else {
        jb_lit(b, "null");
    }
    int64_t due = next_due(k);
    jb_lit(b, ",\"next_cutoff_at\":");
    if (due == INT64_MAX) {
        jb_lit(b, "null");
    } else {
        jb_int(b, due);
    }
    jb_lit(b, ",\"last_cycle\":");
    jb_uint(b, clearing_engine_last_cycle(k->eng));
    jb_lit(b, "}");
}

static void h_schedule_get(api_call *c, json_t *body)
{
    (void)body;
    struct clr *k = api_call_state(c);
    pthread_mutex_lock(&k->mu);
    write_schedule(k, api_call_out(c));
    pthread_mutex_unlock(&k->mu);
    api_call_respond(c, 200);
}

/* "HH:MM" (00:00-23:59) as minutes, or -1. */
static int parse_hhmm(const char *s)
{
    if (strlen(s) != 5 || s[2] != ':' || strspn(s, "0123456789:") != 5) {
        return -1;
    }
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    return h < 24 && m < 60 ? h * 60 + m : -1;
}

static void h_schedule_put(api_call *c, json_t *body)
{
    struct clr *k = api_call_state(c);
    int64_t every = 0;
    char daily[8] = "";
    bool every_given = false;
    bool daily_given = false;
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "every_ms",
         .type = FIELD_INT,
         .out = &every,
         .present = &every_given,
         .min = CLEARING_EVERY_MS_MIN,
         .max = 366 * MS_PER_DAY,
         .allow_null = true},
        {.name = "daily_at",
         .type = FIELD_STRING,
         .out = daily,
         .present = &daily_given,
         .min = 5,
         .max = 5,
         .allow_null = true},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    int daily_min = daily_given ? parse_hhmm(daily) : -1;
    if (daily_given && daily_min < 0) {
        api_call_fail(c, JZ_INVALID_FIELD, "daily_at", "daily_at is HH:MM, 00:00 to 23:59 (UTC+8)");
        return;
    }
    uint8_t rest[12];
    put_u64(rest, (uint64_t)(every_given ? every : 0));
    put_u32(rest + 8, (uint32_t)daily_min);
    pthread_mutex_lock(&k->mu);
    if (clr_note(c, CLEARING_NOTE_SCHEDULE, NULL, NULL, 0, rest, sizeof rest) == 0) {
        if (store_clearing_set_int(k->st, "every_ms", every_given ? every : 0) != 0 ||
            store_clearing_set_int(k->st, "daily_at_min", daily_min) != 0) {
            clr_fail_store(c);
        } else {
            k->every_ms = every_given ? every : 0;
            k->daily_at_min = daily_min;
            pthread_cond_broadcast(&k->cond);
            write_schedule(k, api_call_out(c));
            api_call_respond(c, 200);
        }
    }
    pthread_mutex_unlock(&k->mu);
}

/* ---- Cycles and files ---- */

struct listing {
    struct jbuf *b;
    uint32_t count;
    int64_t last;
};

static int list_one(void *ctx, const char *key, const char *body, size_t len)
{
    struct listing *l = ctx;
    size_t n = strlen(key);
    jb_lit(l->b, l->count ? "," : "");
    jb_raw(l->b, body, len);
    l->count++;
    /* Keys end with the cycle's number in 20 digits. */
    l->last = n >= 20 ? (int64_t)strtoull(key + n - 20, NULL, 10) : 0;
    return 0;
}

static void h_cycles(api_call *c, json_t *body)
{
    (void)body;
    struct clr *k = api_call_state(c);
    int64_t limit = 0;
    int64_t before = 0;
    if (list_params(c, &limit, &before) != 0) {
        return;
    }
    char prefix[40] = "";
    char upper[64];
    if (!api_call_is_central(c)) {
        snprintf(prefix, sizeof prefix, "%s/", api_call_actor_id(c));
    }
    snprintf(upper, sizeof upper, "%s" CLEARING_CYCLE_KEY_FMT, prefix, (unsigned long long)before);
    struct listing l = {.b = api_call_out(c)};
    jb_lit(l.b, "{\"cycles\":[");
    pthread_mutex_lock(&k->mu);
    int rc = store_clearing_list_docs(k->st, api_call_is_central(c) ? "cinfo" : "pos", prefix,
                                      before ? upper : NULL, (uint32_t)limit, list_one, &l);
    pthread_mutex_unlock(&k->mu);
    if (rc != 0) {
        clr_fail_store(c);
        return;
    }
    jb_lit(l.b, "],\"next_before\":");
    if (l.count == (uint32_t)limit && l.last > 1) {
        jb_int(l.b, l.last);
    } else {
        jb_lit(l.b, "null");
    }
    jb_lit(l.b, "}");
    api_call_respond(c, 200);
}

/* Sends a file of the cycle: the body, or its signature (.sig) as DER bytes. */
static void send_file(api_call *c, struct clr *k, const struct clearing_cycle_info *cy,
                      uint32_t inst, const char *ext, bool sig_only)
{
    char *body = NULL;
    uint8_t *sig = NULL;
    size_t len = 0;
    size_t sig_len = 0;
    char err[512];
    int rc = clearing_engine_file(k->eng, cy->id, inst, ext, node_signing_key(k->nd), &body, &len,
                                  &sig, &sig_len, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "jiaozi: clearing: %s\n", err);
        clr_fail_store(c);
    } else if (rc > 0 || (sig_only && !sig)) {
        api_call_fail(c, JZ_NOT_FOUND, "file", "no such file");
    } else if (sig_only) {
        jb_raw(api_call_out(c), (const char *)sig, sig_len);
        api_call_respond_type(c, 200, "application/octet-stream", false);
    } else {
        jb_raw(api_call_out(c), body, len);
        api_call_respond_type(
            c, 200, strcmp(ext, "json") == 0 ? "application/json" : "text/csv; charset=utf-8",
            false);
    }
    free(body);
    free(sig);
}

static void h_cycle(api_call *c, json_t *body)
{
    (void)body;
    struct clr *k = api_call_state(c);
    struct clearing_cycle_info cy;
    pthread_mutex_lock(&k->mu);
    if (clr_cycle_param(c, k, 0, &cy) == 0) {
        char key[64];
        if (api_call_is_central(c)) {
            snprintf(key, sizeof key, CLEARING_CYCLE_KEY_FMT, (unsigned long long)cy.id);
            respond_doc(c, k, "cycle", key, 200);
        } else if (cy.status == JZ_OK) {
            send_file(c, k, &cy, (uint32_t)api_call_actor(c), "json", false);
        } else {
            snprintf(key, sizeof key, "%s/" CLEARING_CYCLE_KEY_FMT, api_call_actor_id(c),
                     (unsigned long long)cy.id);
            respond_doc(c, k, "pos", key, 200);
        }
    }
    pthread_mutex_unlock(&k->mu);
}

static void h_file(api_call *c, json_t *body)
{
    (void)body;
    static const char *const exts[] = {"csv", "json", "items.csv"};
    struct clr *k = api_call_state(c);
    const char *file = api_call_param(c, 1);
    size_t inst_len = strcspn(file, ".");
    char inst[JZ_INSTITUTION_ID_MAX + 1];
    char ext[32];
    bool sig = false;
    if (inst_len == 0 || inst_len > JZ_INSTITUTION_ID_MAX ||
        strlen(file + inst_len) >= sizeof ext) {
        api_call_fail(c, JZ_NOT_FOUND, "file", "no such file");
        return;
    }
    memcpy(inst, file, inst_len);
    inst[inst_len] = '\0';
    snprintf(ext, sizeof ext, "%s", file + inst_len + (file[inst_len] == '.'));
    size_t el = strlen(ext);
    if (el > 4 && strcmp(ext + el - 4, ".sig") == 0) {
        ext[el - 4] = '\0';
        sig = true;
    }
    bool known = false;
    for (size_t i = 0; i < JZ_ARRAY_LEN(exts); i++) {
        known |= strcmp(ext, exts[i]) == 0;
    }
    if (!known) {
        api_call_fail(c, JZ_NOT_FOUND, "file",
                      "files are INST.csv, INST.json, INST.items.csv "
                      "and each with .sig");
        return;
    }
    if (!api_call_is_central(c) && strcmp(inst, api_call_actor_id(c)) != 0) {
        api_call_fail(c, JZ_FORBIDDEN, "file", "an institution reads only its own files");
        return;
    }
    struct clearing_cycle_info cy;
    pthread_mutex_lock(&k->mu);
    if (clr_cycle_param(c, k, 0, &cy) == 0) {
        int index = clearing_engine_institution_index(k->eng, inst);
        if (cy.status != JZ_OK) {
            api_call_fail(c, JZ_CYCLE_FAILED, "id",
                          "the cycle failed (a sum overflowed): no files");
        } else if (index < 0) {
            api_call_fail(c, JZ_NOT_FOUND, "file", "no such institution in this cycle");
        } else {
            send_file(c, k, &cy, (uint32_t)index, ext, sig);
        }
    }
    pthread_mutex_unlock(&k->mu);
}

/* ---- Fees ---- */

static void write_fees(struct clr *k, struct jbuf *b)
{
    uint8_t sm3[32];
    char hex[65];
    const struct clearing_schedule *s = clearing_engine_fees(k->eng, sm3);
    jz_hex_encode(sm3, 32, hex);
    jb_lit(b, "{\"sm3\":");
    jb_cstr(b, hex);
    jb_lit(b, ",\"rounding\":\"half_up\",\"schedule\":");
    clearing_schedule_write(s, b);
    jb_lit(b, "}");
}

static void h_fees_get(api_call *c, json_t *body)
{
    (void)body;
    struct clr *k = api_call_state(c);
    pthread_mutex_lock(&k->mu);
    write_fees(k, api_call_out(c));
    pthread_mutex_unlock(&k->mu);
    api_call_respond(c, 200);
}

static void h_fees_put(api_call *c, json_t *body)
{
    struct clr *k = api_call_state(c);
    struct clearing_schedule *s = malloc(sizeof *s);
    struct api_error e;
    if (!s) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
        return;
    }
    if (clearing_schedule_from_json(body, s, &e) != 0) {
        api_call_fail_error(c, &e);
        free(s);
        return;
    }
    struct jbuf text;
    uint8_t sm3[32];
    jb_init(&text);
    clearing_schedule_write(s, &text);
    pthread_mutex_lock(&k->mu);
    if (text.failed || crypto_sm3(text.p, text.len, sm3) != 0) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
    } else if (clr_note(c, CLEARING_NOTE_FEES, NULL, NULL, 0, sm3, sizeof sm3) == 0) {
        if (clearing_engine_set_fees(k->eng, s, sm3) != 0) {
            clr_fail_store(c);
        } else {
            write_fees(k, api_call_out(c));
            api_call_respond(c, 200);
        }
    }
    pthread_mutex_unlock(&k->mu);
    jb_free(&text);
    free(s);
}

/* ---- Reconciliation ---- */

static const char *const direction_choices[] = {"pay", "receive", NULL};

/* Their record from the body: signed amounts (receive > 0, pay < 0). */
static int parse_record(api_call *c, json_t *body, struct clearing_record **out, size_t *n)
{
    json_t *items = NULL;
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "items", .type = FIELD_ARRAY, .required = true, .out = &items},
    };
    if (json_fields_parse(body, specs, 1, "", &e) != 0) {
        api_call_fail_error(c, &e);
        return -1;
    }
    size_t count = json_array_size(items);
    if (count > CLEARING_RECONCILE_ITEMS_MAX) {
        api_call_fail(c, JZ_INVALID_FIELD, "items", "a record holds at most 500,000 items");
        return -1;
    }
    struct clearing_record *r = malloc((count ? count : 1) * sizeof *r);
    if (!r) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        char prefix[32];
        int dir = 0;
        const struct field_spec item[] = {
            {.name = "id", .type = FIELD_ID, .required = true, .out = &r[i].id},
            {.name = "direction",
             .type = FIELD_ENUM,
             .required = true,
             .out = &dir,
             .choices = direction_choices},
            {.name = "amount", .type = FIELD_AMOUNT, .required = true, .out = &r[i].amount},
        };
        snprintf(prefix, sizeof prefix, "items[%zu].", i);
        if (json_fields_parse(json_array_get(items, i), item, JZ_ARRAY_LEN(item), prefix, &e) !=
            0) {
            api_call_fail_error(c, &e);
            free(r);
            return -1;
        }
        r[i].amount = dir == 1 ? -r[i].amount : r[i].amount;
    }
    *out = r;
    *n = count;
    return 0;
}

static void write_side(struct jbuf *b, const char *name, const struct clearing_record *r, size_t n)
{
    int64_t pay = 0;
    int64_t recv = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].amount < 0) {
            pay -= r[i].amount;
        } else {
            recv += r[i].amount;
        }
    }
    jb_key(b, name, false);
    jb_lit(b, "{\"items\":");
    jb_uint(b, n);
    jb_lit(b, ",\"payable\":");
    jb_int(b, pay);
    jb_lit(b, ",\"receivable\":");
    jb_int(b, recv);
    jb_lit(b, "}");
}

void clr_int_or_null(struct jbuf *b, const char *key, bool present, int64_t v)
{
    jb_key(b, key, false);
    if (present) {
        jb_int(b, v);
    } else {
        jb_lit(b, "null");
    }
}

static void write_report(struct jbuf *b, const struct clearing_cycle_info *cy, const char *inst,
                         uint32_t seq, int64_t at, const struct clearing_record *ours, size_t no,
                         const struct clearing_record *theirs, size_t nt,
                         const struct clearing_diff *d, size_t nd, uint32_t counts[5])
{
    jb_lit(b, "{\"cycle\":");
    jb_uint(b, cy->id);
    jb_lit(b, ",\"institution\":");
    jb_cstr(b, inst);
    jb_lit(b, ",\"report\":");
    jb_uint(b, seq);
    jb_lit(b, ",\"created_at\":");
    jb_int(b, at);
    write_side(b, "ours", ours, no);
    write_side(b, "theirs", theirs, nt);
    jb_lit(b, ",\"differences\":[");
    for (size_t i = 0; i < nd; i++) {
        counts[d[i].cls]++;
        jb_lit(b, i ? ",{\"class\":" : "{\"class\":");
        jb_cstr(b, clearing_diff_name(d[i].cls));
        jb_lit(b, ",\"id\":");
        jb_id(b, &d[i].id);
        bool dup = d[i].cls == CLEARING_DIFF_DUPLICATE;
        clr_int_or_null(b, "ours", d[i].cls != CLEARING_DIFF_MISSING_HERE && d[i].side != 2,
                        d[i].ours);
        clr_int_or_null(b, "theirs", d[i].cls != CLEARING_DIFF_MISSING_THERE && d[i].side != 1,
                        d[i].theirs);
        if (dup) {
            jb_lit(b, d[i].side == 1 ? ",\"record\":\"ours\"" : ",\"record\":\"theirs\"");
        }
        jb_lit(b, "}");
    }
    jb_lit(b, "],\"counts\":{");
    for (int cls = CLEARING_DIFF_MISSING_HERE; cls <= CLEARING_DIFF_DUPLICATE; cls++) {
        jb_key(b, clearing_diff_name(cls), cls == CLEARING_DIFF_MISSING_HERE);
        jb_uint(b, counts[cls]);
    }
    jb_lit(b, "},\"matched\":");
    jb_uint(b, no - counts[CLEARING_DIFF_MISSING_THERE] - counts[CLEARING_DIFF_AMOUNT]);
    jb_lit(b, "}");
}

static int latest_seq(void *ctx, const char *key, const char *body, size_t len)
{
    (void)body;
    (void)len;
    size_t n = strlen(key);
    *(uint32_t *)ctx = n >= 6 ? (uint32_t)atoi(key + n - 6) : 0;
    return 0;
}

/* Ours, theirs, the differences, the report: stored, journalled by its SM3, answered. */
static void reconcile(api_call *c, struct clr *k, const struct clearing_cycle_info *cy,
                      struct clearing_record *theirs, size_t nt)
{
    struct clearing_item *items = NULL;
    struct clearing_record *ours = NULL;
    struct clearing_diff *d = NULL;
    size_t ni = 0;
    size_t nd = 0;
    char err[512];
    const char *inst = api_call_actor_id(c);
    if (clearing_engine_items(k->eng, cy, api_call_actor(c), &items, &ni, err, sizeof err) != 0 ||
        !(ours = malloc((ni ? ni : 1) * sizeof *ours))) {
        clr_fail_store(c);
        free(items);
        return;
    }
    for (size_t i = 0; i < ni; i++) {
        bool pays = items[i].from == api_call_actor(c);
        ours[i] = (struct clearing_record){items[i].id, pays ? -items[i].amount : items[i].amount};
    }
    free(items);
    char prefix[64];
    char key[80];
    uint32_t seq = 0;
    snprintf(prefix, sizeof prefix, CLEARING_CYCLE_KEY_FMT "/%s/", (unsigned long long)cy->id,
             inst);
    struct jbuf b;
    jb_init(&b);
    uint32_t counts[5] = {0};
    uint8_t rest[32 + 16];
    if (clearing_reconcile(ours, ni, theirs, nt, &d, &nd) != 0 ||
        store_clearing_list_docs(k->st, "recon", prefix, NULL, 1, latest_seq, &seq) != 0) {
        clr_fail_store(c);
        goto done;
    }
    write_report(&b, cy, inst, seq + 1, api_now_ms(api_call_api(c)), ours, ni, theirs, nt, d, nd,
                 counts);
    if (b.failed || crypto_sm3(b.p, b.len, rest) != 0) {
        clr_fail_store(c);
        goto done;
    }
    for (int cls = 1; cls <= 4; cls++) {
        put_u32(rest + 32 + 4 * (cls - 1), counts[cls]);
    }
    snprintf(key, sizeof key, "%s%06u", prefix, seq + 1);
    if (clr_note(c, CLEARING_NOTE_RECONCILE, NULL, NULL, (int64_t)cy->id, rest, sizeof rest) == 0) {
        if (store_clearing_put_doc(k->st, "recon", key, b.p, b.len, NULL, 0) != 0) {
            clr_fail_store(c);
        } else {
            jb_raw(api_call_out(c), b.p, b.len);
            api_call_respond(c, 201);
        }
    }
done:
    jb_free(&b);
    free(d);
    free(ours);
}

static void h_reconcile(api_call *c, json_t *body)
{
    struct clr *k = api_call_state(c);
    struct clearing_record *theirs = NULL;
    size_t nt = 0;
    if (parse_record(c, body, &theirs, &nt) != 0) {
        return;
    }
    struct clearing_cycle_info cy;
    pthread_mutex_lock(&k->mu);
    if (clr_cycle_param(c, k, 0, &cy) == 0) {
        if (cy.status != JZ_OK) {
            api_call_fail(c, JZ_CYCLE_FAILED, "id",
                          "the cycle failed: there is nothing to "
                          "reconcile");
        } else {
            reconcile(c, k, &cy, theirs, nt);
        }
    }
    pthread_mutex_unlock(&k->mu);
    free(theirs);
}

struct latest {
    api_call *c;
    bool found;
};

static int send_latest(void *ctx, const char *key, const char *body, size_t len)
{
    (void)key;
    struct latest *l = ctx;
    jb_raw(api_call_out(l->c), body, len);
    l->found = true;
    return 0;
}

static void h_reconciliation(api_call *c, json_t *body)
{
    (void)body;
    struct clr *k = api_call_state(c);
    const char *inst = api_call_param(c, 1);
    if (!api_call_is_central(c) && strcmp(inst, api_call_actor_id(c)) != 0) {
        api_call_fail(c, JZ_FORBIDDEN, "institution", "an institution reads only its own reports");
        return;
    }
    struct clearing_cycle_info cy;
    pthread_mutex_lock(&k->mu);
    if (clr_cycle_param(c, k, 0, &cy) == 0) {
        char prefix[64];
        struct latest l = {.c = c};
        snprintf(prefix, sizeof prefix, CLEARING_CYCLE_KEY_FMT "/%.16s/", (unsigned long long)cy.id,
                 inst);
        if (store_clearing_list_docs(k->st, "recon", prefix, NULL, 1, send_latest, &l) != 0) {
            clr_fail_store(c);
        } else if (!l.found) {
            api_call_fail(c, JZ_NOT_FOUND, "institution", "no reconciliation for this cycle");
        } else {
            api_call_respond(c, 200);
        }
    }
    pthread_mutex_unlock(&k->mu);
}

/* ---- The module ---- */

static int64_t setting(store_clearing *st, const char *key, int64_t def)
{
    int64_t v = def;
    return store_clearing_get_int(st, key, &v) == 0 ? v : def;
}

static void clearing_close(void *state)
{
    struct clr *k = state;
    if (!k) {
        return;
    }
    if (k->thread_started) {
        pthread_mutex_lock(&k->mu);
        k->stop = true;
        pthread_cond_broadcast(&k->cond);
        pthread_mutex_unlock(&k->mu);
        pthread_join(k->thread, NULL);
    }
    clearing_engine_free(k->eng);
    store_clearing_close(k->st);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cond);
    free(k);
}

/* A cut-off journalled just before the node stopped is closed now, before any request. */
static int recover(struct clr *k, char *err, size_t err_len)
{
    if (!clearing_engine_pending(k->eng)) {
        return 0;
    }
    uint64_t closed = 0;
    if (clearing_engine_catch_up(k->eng, executor_durable_seq(k->ex), node_signing_key(k->nd),
                                 &closed, err, err_len) != 0) {
        return -1;
    }
    /* Nothing found up to the durable head: the note never became durable. */
    return closed == 0 ? clearing_engine_set_pending(k->eng, false) : 0;
}

static int clearing_open(api *a, void **state, char *err, size_t err_len)
{
    struct clr *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, err_len, "clearing: out of memory");
        return -1;
    }
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cond, NULL);
    k->a = a;
    k->nd = api_node(a);
    k->ex = api_executor(a);
    char path[4200];
    snprintf(path, sizeof path, "%s/clearing.db", node_dir(k->nd));
    if (store_clearing_open(path, &k->st, err, err_len) != 0 ||
        clearing_engine_open(node_dir(k->nd), k->st, &k->eng, err, err_len) != 0 ||
        recover(k, err, err_len) != 0) {
        clearing_close(k);
        return -1;
    }
    k->every_ms = setting(k->st, "every_ms", 0);
    k->daily_at_min = (int32_t)setting(k->st, "daily_at_min", -1);
    k->started_ms = api_now_ms(a);
    if (pthread_create(&k->thread, NULL, scheduler_main, k) != 0) {
        snprintf(err, err_len, "clearing: cannot start the scheduler thread");
        clearing_close(k);
        return -1;
    }
    k->thread_started = true;
    *state = k;
    return 0;
}

static const struct api_ext_route clearing_routes[] = {
    {.method = "POST",
     .pattern = "/v1/clearing/cutoff",
     .access = API_EXT_CENTRAL,
     .body_optional = true,
     .handler = h_cutoff},
    {.method = "GET", .pattern = "/v1/clearing/cycles", .handler = h_cycles},
    {.method = "GET", .pattern = "/v1/clearing/cycles/{id}", .handler = h_cycle},
    {.method = "GET", .pattern = "/v1/clearing/cycles/{id}/files/{file}", .handler = h_file},
    {.method = "POST",
     .pattern = "/v1/clearing/cycles/{id}/reconcile",
     .access = API_EXT_OPERATORS,
     .body_max = CLEARING_RECONCILE_BODY_MAX,
     .handler = h_reconcile},
    {.method = "GET",
     .pattern = "/v1/clearing/cycles/{id}/reconciliations/{institution}",
     .handler = h_reconciliation},
    {.method = "GET", .pattern = "/v1/clearing/fees", .handler = h_fees_get},
    {.method = "PUT",
     .pattern = "/v1/clearing/fees",
     .access = API_EXT_CENTRAL,
     .handler = h_fees_put},
    {.method = "GET", .pattern = "/v1/clearing/schedule", .handler = h_schedule_get},
    {.method = "PUT",
     .pattern = "/v1/clearing/schedule",
     .access = API_EXT_CENTRAL,
     .handler = h_schedule_put},
    {.method = "POST", .pattern = "/v1/clearing/adjustments", .handler = clr_h_adjust},
    {.method = "GET", .pattern = "/v1/clearing/adjustments/{id}", .handler = clr_h_adjustment},
    {.method = "POST",
     .pattern = "/v1/clearing/adjustments/{id}/approve",
     .body_optional = true,
     .handler = clr_h_approve},
    {.method = "POST",
     .pattern = "/v1/clearing/disputes",
     .access = API_EXT_OPERATORS,
     .handler = clr_h_dispute},
    {.method = "GET", .pattern = "/v1/clearing/disputes/{id}", .handler = clr_h_dispute_get},
    {.method = "POST",
     .pattern = "/v1/clearing/disputes/{id}/accept",
     .access = API_EXT_OPERATORS,
     .body_optional = true,
     .handler = clr_h_accept},
    {.method = "POST",
     .pattern = "/v1/clearing/disputes/{id}/reject",
     .access = API_EXT_OPERATORS,
     .handler = clr_h_reject},
};

const struct api_ext clearing_ext = {
    .name = "clearing",
    .routes = clearing_routes,
    .nroutes = JZ_ARRAY_LEN(clearing_routes),
    .open = clearing_open,
    .close = clearing_close,
};
