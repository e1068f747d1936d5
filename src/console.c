/*
 * console.c: sessions, the embedded page files and the console's own routes (console.h).
 */
#include "console.h"

#include <inttypes.h>
#include <pthread.h>
#include <time.h>

#include "crypto.h"
#include "metrics.h"

/* The page files, compiled in (Makefile: tools/embed). */
extern const char console_index_html[], console_app_js[], console_app_css[];
extern const char console_uplot_js[], console_uplot_css[];
extern const size_t console_index_html_len, console_app_js_len, console_app_css_len;
extern const size_t console_uplot_js_len, console_uplot_css_len;

struct asset {
    const char *name; /* after /console/ ("" for /) */
    const char *type;
    const char *data;
    const size_t *len;
};

static const struct asset assets[] = {
    {"", "text/html; charset=utf-8", console_index_html, &console_index_html_len},
    {"app.js", "text/javascript; charset=utf-8", console_app_js, &console_app_js_len},
    {"app.css", "text/css; charset=utf-8", console_app_css, &console_app_css_len},
    {"uPlot.iife.min.js", "text/javascript; charset=utf-8", console_uplot_js,
     &console_uplot_js_len},
    {"uPlot.min.css", "text/css; charset=utf-8", console_uplot_css, &console_uplot_css_len},
};

#define SESSION_ID_BYTES 32
#define CSRF_HEX (2 * 16)

struct session {
    uint8_t id_hash[CRYPTO_SM3_BYTES]; /* SM3 of the cookie's id: the id itself is not kept */
    char csrf[CSRF_HEX + 1];
    int actor;
    int64_t created_ms, last_ms;
    bool live;
};

struct sample {
    int64_t t_ms;
    double tps;          /* commands made durable a second */
    double p50_ms, p99_ms; /* request latency of the transfer routes in the interval */
};

struct console {
    api *a;
    pthread_mutex_t mu;
    struct session sessions[CONSOLE_SESSIONS_MAX];
    int64_t fail_window_s;
    uint32_t fail_count;
    /* Live series: sampled when asked, at most once a second. */
    struct sample series[CONSOLE_SERIES_MAX];
    uint32_t series_len, series_next;
    int64_t last_sample_ms;
    uint64_t last_commands;
    uint64_t last_buckets[METRICS_BUCKETS_MAX + 1];
};

/* ---- Sessions ---- */

static const char *cookie_value(const char *cookie, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = cookie; p && *p;) {
        while (*p == ' ' || *p == ';') {
            p++;
        }
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            return p + n + 1;
        }
        p = strchr(p, ';');
    }
    return NULL;
}

/* The session of a cookie, with the lock held; NULL when none is live. */
static struct session *session_find(struct console *k, const char *cookie, int64_t now)
{
    const char *v = cookie_value(cookie, "jz_session");
    uint8_t id[SESSION_ID_BYTES];
    uint8_t hash[CRYPTO_SM3_BYTES];
    if (!v || strspn(v, "0123456789abcdef") != 2 * SESSION_ID_BYTES ||
        jz_hex_decode(v, 2 * SESSION_ID_BYTES, id, sizeof id) != 0 ||
        crypto_sm3(id, sizeof id, hash) != 0) {
        return NULL;
    }
    for (int i = 0; i < CONSOLE_SESSIONS_MAX; i++) {
        struct session *s = &k->sessions[i];
        if (s->live && crypto_memcmp(s->id_hash, hash, sizeof hash) == 0) {
            if (now - s->last_ms > CONSOLE_IDLE_MS || now - s->created_ms > CONSOLE_LIFETIME_MS) {
                s->live = false;
                return NULL;
            }
            s->last_ms = now;
            return s;
        }
    }
    return NULL;
}

static int session_check(void *state, const char *cookie, const char *method, const char *csrf,
                         int *actor, struct api_error *e)
{
    struct console *k = state;
    if (!cookie || !cookie_value(cookie, "jz_session")) {
        return 1;
    }
    int64_t now = api_now_ms(k->a);
    pthread_mutex_lock(&k->mu);
    struct session *s = session_find(k, cookie, now);
    int rc = 1;
    if (s) {
        bool safe = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        if (!safe && (!csrf || strlen(csrf) != CSRF_HEX ||
                      crypto_memcmp(csrf, s->csrf, CSRF_HEX) != 0)) {
            api_fail(e, JZ_FORBIDDEN, "X-CSRF-Token",
                     "a console request that changes something needs the session's CSRF token");
            rc = -1;
        } else {
            *actor = s->actor;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&k->mu);
    return rc;
}

/* A new session for actor: writes the cookie's id (hex) and the CSRF token. */
static int session_new(struct console *k, int actor, char id_hex[2 * SESSION_ID_BYTES + 1],
                       char csrf[CSRF_HEX + 1])
{
    uint8_t id[SESSION_ID_BYTES];
    uint8_t tok[CSRF_HEX / 2];
    struct session s = {.actor = actor, .live = true};
    if (crypto_random(id, sizeof id) != 0 || crypto_random(tok, sizeof tok) != 0 ||
        crypto_sm3(id, sizeof id, s.id_hash) != 0) {
        return -1;
    }
    jz_hex_encode(id, sizeof id, id_hex);
    jz_hex_encode(tok, sizeof tok, s.csrf);
    memcpy(csrf, s.csrf, sizeof s.csrf);
    crypto_wipe(id, sizeof id);
    s.created_ms = s.last_ms = api_now_ms(k->a);
    pthread_mutex_lock(&k->mu);
    int slot = 0;
    for (int i = 0; i < CONSOLE_SESSIONS_MAX; i++) {
        if (!k->sessions[i].live) {
            slot = i;
            break;
        }
        if (k->sessions[i].last_ms < k->sessions[slot].last_ms) {
            slot = i; /* full: the least recently used goes */
        }
    }
    k->sessions[slot] = s;
    pthread_mutex_unlock(&k->mu);
    return 0;
}

/* ---- Routes: files, sign-in, sign-out ---- */

static void serve_asset(api_call *c, const char *name)
{
    for (size_t i = 0; i < JZ_ARRAY_LEN(assets); i++) {
        if (strcmp(assets[i].name, name) == 0) {
            jb_raw(api_call_out(c), assets[i].data, *assets[i].len);
            api_call_respond_type(c, 200, assets[i].type, true);
            return;
        }
    }
    api_call_fail(c, JZ_NOT_FOUND, "", "no such console file");
}

static void h_index(api_call *c, json_t *body)
{
    (void)body;
    serve_asset(c, "");
}

static void h_file(api_call *c, json_t *body)
{
    (void)body;
    serve_asset(c, api_call_param(c, 0));
}

static bool login_allowed(struct console *k)
{
    int64_t s = api_now_ms(k->a) / 1000;
    pthread_mutex_lock(&k->mu);
    if (s != k->fail_window_s) {
        k->fail_window_s = s;
        k->fail_count = 0;
    }
    bool ok = k->fail_count < CONSOLE_LOGIN_FAILURES_PER_S;
    pthread_mutex_unlock(&k->mu);
    return ok;
}

static void login_failed(struct console *k)
{
    pthread_mutex_lock(&k->mu);
    k->fail_count++;
    pthread_mutex_unlock(&k->mu);
}

static void write_session(api_call *c, int actor, const char *csrf)
{
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"institution\":");
    jb_cstr(b, api_institution_id(api_call_api(c), (uint32_t)actor));
    jb_lit(b, ",\"central\":");
    jb_lit(b, actor == 0 ? "true" : "false");
    jb_lit(b, ",\"csrf\":");
    jb_cstr(b, csrf);
    jb_lit(b, "}");
}

static void h_login(api_call *c, json_t *body)
{
    struct console *k = api_call_state(c);
    char key[33] = "";
    char secret[65] = "";
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "key_id", .type = FIELD_STRING, .required = true, .out = key, .max = 32},
        {.name = "secret", .type = FIELD_STRING, .required = true, .out = secret, .max = 64},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    if (!login_allowed(k)) {
        crypto_wipe(secret, sizeof secret);
        api_call_fail(c, JZ_RATE_LIMITED, "", "too many failed sign-ins: wait a second");
        return;
    }
    int actor = -1;
    int rc = auth_login(api_auth(api_call_api(c)), key, secret, &actor);
    crypto_wipe(secret, sizeof secret);
    if (rc != 0) {
        login_failed(k);
        api_call_fail(c, JZ_UNAUTHENTICATED, "", "wrong key id or secret");
        return;
    }
    char id_hex[2 * SESSION_ID_BYTES + 1];
    char csrf[CSRF_HEX + 1];
    if (session_new(k, actor, id_hex, csrf) != 0) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "no randomness for a session");
        return;
    }
    char cookie[192];
    snprintf(cookie, sizeof cookie,
             "jz_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s", id_hex,
             CONSOLE_LIFETIME_MS / 1000,
             api_get_config(api_call_api(c))->secure_cookies ? "; Secure" : "");
    crypto_wipe(id_hex, sizeof id_hex);
    api_call_set_cookie(c, cookie);
    write_session(c, actor, csrf);
    api_call_respond(c, 200);
}

static void h_logout(api_call *c, json_t *body)
{
    (void)body;
    struct console *k = api_call_state(c);
    const char *cookie = api_call_cookie(c);
    pthread_mutex_lock(&k->mu);
    struct session *s = cookie ? session_find(k, cookie, api_now_ms(k->a)) : NULL;
    if (s) {
        s->live = false;
    }
    pthread_mutex_unlock(&k->mu);
    api_call_set_cookie(c, "jz_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    jb_lit(api_call_out(c), "{\"signed_out\":true}");
    api_call_respond(c, 200);
}

static void h_session(api_call *c, json_t *body)
{
    (void)body;
    struct console *k = api_call_state(c);
    const char *cookie = api_call_cookie(c);
    char csrf[CSRF_HEX + 1] = "";
    pthread_mutex_lock(&k->mu);
    struct session *s = cookie ? session_find(k, cookie, api_now_ms(k->a)) : NULL;
    if (s) {
        memcpy(csrf, s->csrf, sizeof csrf);
    }
    pthread_mutex_unlock(&k->mu);
    /* Reached with a signature instead of a cookie: there is no CSRF token to give. */
    write_session(c, api_call_actor(c), csrf);
    api_call_respond(c, 200);
}

/* ---- Routes: statistics ---- */

#define TIERS 5

struct circulation {
    int64_t now;
    uint32_t ninst;
    int64_t balance[JZ_INSTITUTIONS_MAX][TIERS];
    uint32_t wallets[JZ_INSTITUTIONS_MAX][TIERS];
    int64_t issued; /* minus the issuance account's balance */
    int only;       /* an operator sees its own: its index; central: -1 */
};

static void query_circulation(const ledger *l, void *ctx)
{
    struct circulation *q = ctx;
    q->ninst = ledger_institution_count(l);
    uint32_t n = ledger_wallet_count(l);
    struct ledger_wallet_view w;
    for (uint32_t i = 0; i < n; i++) {
        if (ledger_wallet_at(l, i, q->now, &w) != 0) {
            continue;
        }
        if (w.operator_index == 0 && w.kind == LEDGER_WALLET_TREASURY) {
            q->issued = -w.balance; /* the issuance account */
            continue;
        }
        if (w.operator_index >= JZ_INSTITUTIONS_MAX || w.tier >= TIERS ||
            (q->only >= 0 && w.operator_index != q->only)) {
            continue;
        }
        q->balance[w.operator_index][w.tier] += w.balance;
        q->wallets[w.operator_index][w.tier]++;
    }
}

/* Quantile (0..1) of the observations between two snapshots of a latency histogram, in ms,
 * interpolated inside the bucket it falls in. */
static double delta_quantile(const uint64_t *now, const uint64_t *before, int nbounds, double q)
{
    uint64_t total = 0;
    for (int i = 0; i <= nbounds; i++) {
        total += now[i] - before[i];
    }
    if (total == 0) {
        return 0;
    }
    double want = q * (double)total;
    double seen = 0;
    for (int i = 0; i <= nbounds; i++) {
        double n = (double)(now[i] - before[i]);
        if (seen + n >= want && n > 0) {
            double lo = i == 0 ? 0 : metrics_latency_bounds[i - 1];
            double hi = i < nbounds ? metrics_latency_bounds[i] : lo * 2;
            return 1000.0 * (lo + (hi - lo) * (want - seen) / n);
        }
        seen += n;
    }
    return 1000.0 * metrics_latency_bounds[nbounds - 1];
}

static void take_sample(struct console *k)
{
    int64_t now = api_now_ms(k->a);
    uint64_t buckets[METRICS_BUCKETS_MAX + 1];
    api_transfer_latency(k->a, buckets);
    uint64_t commands = atomic_load(&executor_get_metrics(api_executor(k->a))->commands);
    pthread_mutex_lock(&k->mu);
    if (now - k->last_sample_ms >= 1000) {
        if (k->last_sample_ms > 0) {
            struct sample s = {.t_ms = now};
            double secs = (double)(now - k->last_sample_ms) / 1000.0;
            s.tps = (double)(commands - k->last_commands) / secs;
            s.p50_ms = delta_quantile(buckets, k->last_buckets, metrics_latency_nbounds, 0.50);
            s.p99_ms = delta_quantile(buckets, k->last_buckets, metrics_latency_nbounds, 0.99);
            k->series[k->series_next] = s;
            k->series_next = (k->series_next + 1) % CONSOLE_SERIES_MAX;
            if (k->series_len < CONSOLE_SERIES_MAX) {
                k->series_len++;
            }
        }
        k->last_sample_ms = now;
        k->last_commands = commands;
        memcpy(k->last_buckets, buckets, sizeof buckets);
    }
    pthread_mutex_unlock(&k->mu);
}

static void write_series(struct console *k, struct jbuf *b)
{
    char num[64];
    jb_lit(b, ",\"series\":[");
    pthread_mutex_lock(&k->mu);
    uint32_t start = (k->series_next + CONSOLE_SERIES_MAX - k->series_len) % CONSOLE_SERIES_MAX;
    for (uint32_t i = 0; i < k->series_len; i++) {
        const struct sample *s = &k->series[(start + i) % CONSOLE_SERIES_MAX];
        snprintf(num, sizeof num, "%s[%" PRId64 ",%.1f,%.3f,%.3f]", i ? "," : "", s->t_ms,
                 s->tps, s->p50_ms, s->p99_ms);
        jb_lit(b, num);
    }
    pthread_mutex_unlock(&k->mu);
    jb_lit(b, "]");
}

static void h_stats(api_call *c, json_t *body)
{
    (void)body;
    struct console *k = api_call_state(c);
    take_sample(k);
    struct circulation *q = calloc(1, sizeof *q);
    if (!q) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
        return;
    }
    q->now = api_now_ms(k->a);
    q->only = api_call_is_central(c) ? -1 : api_call_actor(c);
    if (api_call_read(c, query_circulation, q) != 0) {
        free(q);
        return;
    }
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"now\":");
    jb_int(b, q->now);
    jb_lit(b, ",\"seq\":");
    jb_uint(b, executor_durable_seq(api_executor(k->a)));
    if (q->only < 0) {
        jb_lit(b, ",\"issued\":");
        jb_int(b, q->issued);
    }
    jb_lit(b, ",\"circulation\":[");
    bool first = true;
    for (uint32_t i = 0; i < q->ninst && i < JZ_INSTITUTIONS_MAX; i++) {
        for (int t = 0; t < TIERS; t++) {
            if (q->wallets[i][t] == 0) {
                continue;
            }
            jb_lit(b, first ? "{\"operator\":" : ",{\"operator\":");
            first = false;
            jb_cstr(b, api_institution_id(k->a, i));
            jb_lit(b, ",\"tier\":");
            jb_int(b, t);
            jb_lit(b, ",\"wallets\":");
            jb_uint(b, q->wallets[i][t]);
            jb_lit(b, ",\"balance\":");
            jb_int(b, q->balance[i][t]);
            jb_lit(b, "}");
        }
    }
    jb_lit(b, "]");
    write_series(k, b);
    jb_lit(b, "}");
    free(q);
    api_call_respond(c, 200);
}

#define SEARCH_MAX 50

struct search {
    char prefix[33];
    size_t prefix_len;
    int only;
    int64_t now;
    uint32_t found;
    struct ledger_wallet_view hits[SEARCH_MAX];
};

static void query_search(const ledger *l, void *ctx)
{
    struct search *q = ctx;
    uint32_t n = ledger_wallet_count(l);
    struct ledger_wallet_view w;
    char hex[33];
    /* Newest first: the console's list starts with what was opened last. */
    for (uint32_t i = n; i-- > 0 && q->found < SEARCH_MAX;) {
        if (ledger_wallet_at(l, i, q->now, &w) != 0 ||
            (q->only >= 0 && w.operator_index != q->only)) {
            continue;
        }
        jz_id_to_hex(&w.id, hex);
        if (strncmp(hex, q->prefix, q->prefix_len) == 0) {
            q->hits[q->found++] = w;
        }
    }
}

static void h_wallets(api_call *c, json_t *body)
{
    (void)body;
    struct search *q = calloc(1, sizeof *q);
    if (!q) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
        return;
    }
    const char *query = api_call_query(c);
    const char *v = strncmp(query, "q=", 2) == 0 ? query + 2 : strstr(query, "&q=");
    if (v && v[0] == '&') {
        v += 3;
    }
    size_t len = v ? strcspn(v, "&") : 0;
    if (len > 32 || strspn(v ? v : "", "0123456789abcdef") < len) {
        free(q);
        api_call_fail(c, JZ_INVALID_FIELD, "q", "q is up to 32 lowercase hex digits of a wallet id");
        return;
    }
    memcpy(q->prefix, v ? v : "", len);
    q->prefix_len = len;
    q->only = api_call_is_central(c) ? -1 : api_call_actor(c);
    q->now = api_now_ms(api_call_api(c));
    if (api_call_read(c, query_search, q) == 0) {
        struct jbuf *b = api_call_out(c);
        jb_lit(b, "{\"wallets\":[");
        for (uint32_t i = 0; i < q->found; i++) {
            if (i) {
                jb_lit(b, ",");
            }
            api_write_wallet(api_call_api(c), b, &q->hits[i]);
        }
        jb_lit(b, "]}");
        api_call_respond(c, 200);
    }
    free(q);
}

/* ---- The module ---- */

static int console_open(api *a, void **state, char *err, size_t err_len)
{
    struct console *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    k->a = a;
    pthread_mutex_init(&k->mu, NULL);
    api_set_session_checker(a, session_check, k);
    *state = k;
    return 0;
}

static void console_close(void *state)
{
    struct console *k = state;
    if (!k) {
        return;
    }
    pthread_mutex_destroy(&k->mu);
    crypto_wipe(k->sessions, sizeof k->sessions);
    free(k);
}

static const struct api_ext_route console_routes[] = {
    {.method = "GET", .pattern = "/", .access = API_EXT_PUBLIC, .handler = h_index},
    {.method = "POST", .pattern = "/console/login", .access = API_EXT_PUBLIC, .handler = h_login},
    {.method = "POST", .pattern = "/console/logout", .body_optional = true, .handler = h_logout},
    {.method = "GET", .pattern = "/console/session", .handler = h_session},
    {.method = "GET", .pattern = "/console/stats", .handler = h_stats},
    {.method = "GET", .pattern = "/console/wallets", .handler = h_wallets},
    /* Last: the literal routes above win over a file of the same name. */
    {.method = "GET", .pattern = "/console/{file}", .access = API_EXT_PUBLIC, .handler = h_file},
};

const struct api_ext console_ext = {
    .name = "console",
    .routes = console_routes,
    .nroutes = JZ_ARRAY_LEN(console_routes),
    .open = console_open,
    .close = console_close,
};
