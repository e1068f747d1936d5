/*
 * scenario_campaign.c: red-envelope campaigns (issue 7, item 3).
 *
 * An operator makes a campaign over a pool wallet of its own that holds the prizes, with a
 * registration window and the SM3 of a secret seed (commit). Holders register during the
 * window, once per wallet or phone number; a registration's published id is a keyed hash
 * (HMAC-SM3 under the module's secret) of the campaign and the wallet or phone, so the list
 * reveals neither. After the window the operator reveals the seed (it must hash to the
 * commitment) and the draw (scenario_draw.h) picks the winners from the seed and the sorted
 * registration ids, which are published with it, so anyone can re-run it.
 *
 * Each winner gets the prize in a restricted child wallet (tier 4, the campaign's merchant
 * categories, expiring when the campaign's spending period ends, returning to the pool), of
 * the registrant's wallet or, for a phone registration, of a tier-4 wallet opened for it
 * with the phone as its sealed holder record. Wallets are opened on the registering
 * operator's authority; the prizes move on the campaign operator's. All ids are derived
 * (campaign-wallet, campaign-child, campaign-prize), so running the draw again (after a
 * crash, say) replays instead of paying twice. What the winners have not spent returns to
 * the pool by itself when the period ends (the ledger's sweep, on the executor's clock).
 */
#include "command.h"
#include "crypto.h"
#include "node.h"
#include "scenario_draw.h"
#include "scenario_int.h"

#define WINNERS_MAX 2000         /* 3 commands each fit one request of JZ_BATCH_MAX */
#define REGISTRATIONS_MAX 100000 /* what one draw reads and publishes */
#define PHONE_MIN 5
#define PHONE_MAX 20

static int campaign_of_path(api_call *c, struct scen_campaign *out)
{
    jz_id id;
    if (scen_path_id(c, 0, &id) != 0) {
        return -1;
    }
    return scen_found(c, scen_store_campaign_get(scen_of(c)->store, &id, out),
                      JZ_CAMPAIGN_NOT_FOUND, "id", "no such campaign") ? 0 : -1;
}

static const char *campaign_status(const struct scen_campaign *k, int64_t now)
{
    return k->drawn_at      ? "drawn"
           : now < k->opens_at ? "upcoming"
           : now < k->closes_at ? "open"
                                : "closed";
}

static void write_hex(struct jbuf *b, const uint8_t *p, size_t n)
{
    char hex[65];
    jz_hex_encode(p, n, hex);
    jb_cstr(b, hex);
}

static void write_campaign(api_call *c, const struct scen_campaign *k)
{
    uint32_t regs = 0;
    scen_store_registration_count(scen_of(c)->store, &k->id, &regs);
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"id\":");
    jb_id(b, &k->id);
    jb_lit(b, ",\"operator\":");
    jb_cstr(b, api_institution_id(api_call_api(c), (uint32_t)k->operator_index));
    jb_lit(b, ",\"name\":");
    jb_cstr(b, k->name);
    jb_lit(b, ",\"pool\":");
    jb_id(b, &k->pool);
    jb_lit(b, ",\"amount\":");
    jb_int(b, k->amount);
    jb_lit(b, ",\"winners\":");
    jb_int(b, k->winners);
    jb_lit(b, ",\"registration_opens_at\":");
    jb_int(b, k->opens_at);
    jb_lit(b, ",\"registration_closes_at\":");
    jb_int(b, k->closes_at);
    jb_lit(b, ",\"spend_expires_at\":");
    jb_int(b, k->spend_expires_at);
    jb_lit(b, ",\"mccs\":");
    scen_write_mccs(b, k->mccs, k->mcc_count);
    jb_lit(b, ",\"seed_commitment\":");
    write_hex(b, k->commitment, sizeof k->commitment);
    jb_lit(b, ",\"registrations\":");
    jb_int(b, regs);
    jb_lit(b, ",\"status\":");
    jb_cstr(b, campaign_status(k, api_now_ms(api_call_api(c))));
    jb_lit(b, ",\"seed\":");
    if (k->drawn_at) {
        write_hex(b, k->seed, sizeof k->seed);
        jb_lit(b, ",\"drawn_at\":");
        jb_int(b, k->drawn_at);
    } else {
        jb_lit(b, "null,\"drawn_at\":null");
    }
    jb_lit(b, ",\"created_at\":");
    jb_int(b, k->created_at);
    jb_lit(b, "}");
}

/* ---- Making a campaign ---- */

static int parse_campaign(api_call *c, json_t *body, struct scen_campaign *k, bool *has_id)
{
    char commitment[65] = "";
    int64_t winners = 0;
    json_t *mccs = NULL;
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "id", .type = FIELD_ID, .out = &k->id, .present = has_id},
        {.name = "name", .type = FIELD_STRING, .required = true, .out = k->name, .min = 1,
         .max = SCEN_NAME_MAX},
        {.name = "pool", .type = FIELD_ID, .required = true, .out = &k->pool},
        {.name = "amount", .type = FIELD_AMOUNT, .required = true, .out = &k->amount},
        {.name = "winners", .type = FIELD_INT, .required = true, .out = &winners, .min = 1,
         .max = WINNERS_MAX},
        {.name = "registration_opens_at", .type = FIELD_INT, .required = true,
         .out = &k->opens_at, .min = 0, .max = INT64_MAX},
        {.name = "registration_closes_at", .type = FIELD_INT, .required = true,
         .out = &k->closes_at, .min = 1, .max = INT64_MAX},
        {.name = "spend_expires_at", .type = FIELD_INT, .required = true,
         .out = &k->spend_expires_at, .min = 1, .max = INT64_MAX},
        {.name = "mccs", .type = FIELD_ARRAY, .out = &mccs},
        {.name = "seed_commitment", .type = FIELD_STRING, .required = true, .out = commitment,
         .min = 64, .max = 64},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return -1;
    }
    k->winners = (int32_t)winners;
    if (jz_hex_decode(commitment, 64, k->commitment, sizeof k->commitment) != 0) {
        api_call_fail(c, JZ_INVALID_FIELD, "seed_commitment", "64 hex digits: SM3 of the seed");
        return -1;
    }
    return mccs ? scen_parse_mccs(c, mccs, "mccs", k->mccs, &k->mcc_count) : 0;
}

/* Times and the pool's funds of a new campaign; 0 or -1 answered. */
static int check_campaign(api_call *c, const struct scen_campaign *k, int64_t now)
{
    const char *field = k->closes_at <= k->opens_at ? "registration_closes_at"
                        : k->closes_at <= now       ? "registration_closes_at"
                        : k->spend_expires_at <= k->closes_at ||
                                  k->spend_expires_at - now > JZ_RESTRICTION_MAX_MS
                            ? "spend_expires_at"
                            : NULL;
    if (field) {
        api_call_fail(c, JZ_INVALID_FIELD, field,
                      "registration opens < closes (in the future) < spending ends "
                      "(within 3 years)");
        return -1;
    }
    struct ledger_wallet_view pool;
    if (api_call_wallet(c, &k->pool, "pool", &pool) != 0) {
        return -1;
    }
    if (pool.restricted || pool.kind == LEDGER_WALLET_TREASURY) {
        api_call_fail(c, JZ_INVALID_FIELD, "pool", "the pool is an unrestricted holder wallet");
        return -1;
    }
    if ((__int128)k->amount * k->winners > pool.balance - pool.held) {
        api_call_fail(c, JZ_INSUFFICIENT_FUNDS, "pool", "the pool cannot pay every prize");
        return -1;
    }
    return 0;
}

void scen_h_campaign_create(api_call *c, json_t *body)
{
    struct scen *s = scen_of(c);
    struct scen_campaign k;
    struct scen_campaign old;
    bool has_id = false;
    memset(&k, 0, sizeof k);
    if (parse_campaign(c, body, &k, &has_id) != 0) {
        return;
    }
    if (!has_id && crypto_random(k.id.b, sizeof k.id.b) != 0) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "no randomness for a campaign id");
        return;
    }
    int rc = scen_store_campaign_get(s->store, &k.id, &old);
    if (rc == 0) {
        bool same = old.operator_index == api_call_actor(c) && jz_id_eq(&old.pool, &k.pool) &&
                    old.amount == k.amount && old.winners == k.winners &&
                    old.opens_at == k.opens_at && old.closes_at == k.closes_at &&
                    old.spend_expires_at == k.spend_expires_at &&
                    memcmp(old.commitment, k.commitment, 32) == 0 && strcmp(old.name, k.name) == 0;
        if (!same) {
            api_call_fail(c, JZ_ID_CONFLICT, "id", "this campaign id was used with other details");
            return;
        }
        write_campaign(c, &old);
        api_call_respond(c, 200);
        return;
    }
    int64_t now = api_now_ms(s->a);
    k.operator_index = api_call_actor(c);
    k.created_at = now;
    uint8_t data[32 + 8];
    memcpy(data, k.commitment, 32);
    put_u64(data + 32, (uint64_t)k.closes_at);
    if (rc < 0) {
        scen_fail_store(c);
    } else if (check_campaign(c, &k, now) == 0 &&
               scen_note(c, SCEN_EV_CAMPAIGN, &k.id, &k.pool, k.amount, data, sizeof data) == 0) {
        if (scen_store_campaign_put(s->store, &k) != 0) {
            scen_fail_store(c);
            return;
        }
        write_campaign(c, &k);
        api_call_respond(c, 201);
    }
}

void scen_h_campaign_get(api_call *c, json_t *body)
{
    (void)body;
    struct scen_campaign k;
    if (campaign_of_path(c, &k) == 0) {
        write_campaign(c, &k);
        api_call_respond(c, 200);
    }
}

/* ---- Registrations ---- */

/* The published id of a registrant: HMAC-SM3(module key, campaign | kind | what). */
static void registration_id(struct scen *s, const jz_id *campaign, char kind, const void *what,
                            size_t len, jz_id *out)
{
    uint8_t msg[16 + 1 + PHONE_MAX + 16];
    uint8_t mac[CRYPTO_SM3_BYTES];
    memcpy(msg, campaign->b, 16);
    msg[16] = (uint8_t)kind;
    memcpy(msg + 17, what, len);
    ASSERT(crypto_hmac_sm3(s->key, sizeof s->key, msg, 17 + len, mac) == 0);
    memcpy(out->b, mac, 16);
}

static bool phone_ok(const char *p)
{
    size_t n = strlen(p);
    if (n < PHONE_MIN || n > PHONE_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (i == 0 && p[i] == '+'))) {
            return false;
        }
    }
    return true;
}

/* A phone registration: the wallet to open for it and its sealed holder record. */
static int register_phone(api_call *c, const char *phone, struct scen_registration *r)
{
    struct scen *s = scen_of(c);
    registration_id(s, &r->campaign, 'p', phone, strlen(phone), &r->reg);
    scen_derive("campaign-wallet", r->campaign.b, 16, r->reg.b, 16, &r->wallet);
    uint8_t plain[3 + PHONE_MAX];
    size_t n = strlen(phone);
    plain[0] = 0; /* name */
    plain[1] = 0; /* id number */
    plain[2] = (uint8_t)n;
    memcpy(plain + 3, phone, n);
    int rc = node_seal_holder(api_node(s->a), &r->wallet, plain, 3 + n, r->holder);
    crypto_wipe(plain, sizeof plain);
    if (rc != 0) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "the holder record could not be sealed");
        return -1;
    }
    r->holder_len = (uint8_t)(3 + n + CRYPTO_SEAL_OVERHEAD);
    return 0;
}

static int register_wallet(api_call *c, struct scen_registration *r)
{
    struct ledger_wallet_view w;
    if (api_call_wallet(c, &r->wallet, "wallet", &w) != 0) {
        return -1;
    }
    if (w.kind == LEDGER_WALLET_TREASURY || !jz_id_is_zero(&w.parent) || w.restricted ||
        w.status != LEDGER_STATUS_ACTIVE) {
        api_call_fail(c, JZ_INVALID_FIELD, "wallet",
                      "register an active top-level wallet (its prize comes in a child)");
        return -1;
    }
    registration_id(scen_of(c), &r->campaign, 'w', r->wallet.b, 16, &r->reg);
    r->has_wallet = true;
    return 0;
}

void scen_h_register(api_call *c, json_t *body)
{
    struct scen *s = scen_of(c);
    struct scen_campaign k;
    struct scen_registration r;
    char phone[PHONE_MAX + 1] = "";
    bool has_wallet = false;
    bool has_phone = false;
    struct api_error e;
    memset(&r, 0, sizeof r);
    const struct field_spec specs[] = {
        {.name = "wallet", .type = FIELD_ID, .out = &r.wallet, .present = &has_wallet},
        {.name = "phone", .type = FIELD_STRING, .out = phone, .min = 1, .max = PHONE_MAX,
         .present = &has_phone},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    if (has_wallet == has_phone || (has_phone && !phone_ok(phone))) {
        api_call_fail(c, has_wallet || has_phone ? JZ_INVALID_FIELD : JZ_MISSING_FIELD,
                      has_phone && has_wallet ? "phone" : has_phone ? "phone" : "wallet",
                      "register a wallet or a phone number (5-20 digits, may start with +)");
        return;
    }
    if (campaign_of_path(c, &k) != 0) {
        return;
    }
    int64_t now = api_now_ms(s->a);
    uint32_t count = 0;
    if (now < k.opens_at || now >= k.closes_at || k.drawn_at) {
        api_call_fail(c, JZ_REGISTRATION_CLOSED, "id", "registration is not open");
        return;
    }
    if (scen_store_registration_count(s->store, &k.id, &count) != 0 || count >= REGISTRATIONS_MAX) {
        count >= REGISTRATIONS_MAX
            ? api_call_fail(c, JZ_CAPACITY_EXCEEDED, "id", "the campaign is full")
            : scen_fail_store(c);
        return;
    }
    r.campaign = k.id;
    r.operator_index = api_call_actor(c);
    r.created_at = now;
    if ((has_phone ? register_phone(c, phone, &r) : register_wallet(c, &r)) != 0 ||
        scen_note(c, SCEN_EV_REGISTRATION, &k.id, &r.reg, 0, NULL, 0) != 0) {
        return;
    }
    int rc = scen_store_registration_put(s->store, &r);
    if (rc != 0) {
        rc == 1 ? api_call_fail(c, JZ_ALREADY_REGISTERED, has_phone ? "phone" : "wallet",
                                "already registered for this campaign")
                : scen_fail_store(c);
        return;
    }
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"campaign\":");
    jb_id(b, &k.id);
    jb_lit(b, ",\"registration\":");
    jb_id(b, &r.reg);
    jb_lit(b, ",\"wallet\":");
    jb_id(b, &r.wallet);
    jb_lit(b, ",\"created_at\":");
    jb_int(b, r.created_at);
    jb_lit(b, "}");
    api_call_respond(c, 201);
}

/* ---- The draw ---- */

struct draw {
    struct scen_registration *regs;
    uint32_t n;
    jz_id *ids;        /* sorted registration ids */
    uint32_t *winners; /* indexes into regs, rank order */
    int64_t k;
    uint8_t digest[32];
};

static void draw_free(struct draw *d)
{
    free(d->regs);
    free(d->ids);
    free(d->winners);
}

/* Loads the registrations and runs the draw with seed. 0 or -1 answered. */
static int draw_run(api_call *c, const struct scen_campaign *k, const uint8_t seed[32],
                    struct draw *d)
{
    memset(d, 0, sizeof *d);
    uint32_t count = 0;
    if (scen_store_registration_count(scen_of(c)->store, &k->id, &count) != 0) {
        scen_fail_store(c);
        return -1;
    }
    d->regs = calloc(count + 1, sizeof *d->regs);
    d->ids = calloc(count + 1, sizeof *d->ids);
    d->winners = calloc((size_t)k->winners + 1, sizeof *d->winners);
    if (!d->regs || !d->ids || !d->winners ||
        scen_store_registrations(scen_of(c)->store, &k->id, d->regs, count + 1, &d->n) != 0) {
        scen_fail_store(c);
        return -1;
    }
    for (uint32_t i = 0; i < d->n; i++) {
        d->ids[i] = d->regs[i].reg;
    }
    d->k = scen_draw(seed, d->ids, d->n, (uint32_t)k->winners, d->winners, d->digest);
    if (d->k < 0) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "the draw could not be computed");
        return -1;
    }
    return 0;
}

/* Winner w's wallet open (phone registrations), child open and prize, appended to cmds. */
static uint32_t winner_cmds(const struct scen_campaign *k, const struct scen_registration *r,
                            struct ledger_cmd *cmds, uint32_t n)
{
    if (!r->has_wallet) {
        struct ledger_cmd *o = &cmds[n++];
        memset(o, 0, sizeof *o);
        o->op = LEDGER_OP_WALLET_OPEN;
        o->actor = (uint16_t)r->operator_index;
        o->id = r->wallet;
        o->kind = LEDGER_WALLET_PERSONAL;
        o->tier = 4;
        o->form = LEDGER_FORM_SOFT;
        o->holder_len = r->holder_len;
        memcpy(o->holder, r->holder, r->holder_len);
    }
    struct ledger_cmd *ch = &cmds[n++];
    memset(ch, 0, sizeof *ch);
    ch->op = LEDGER_OP_WALLET_OPEN;
    ch->actor = (uint16_t)r->operator_index;
    scen_derive("campaign-child", k->id.b, 16, r->reg.b, 16, &ch->id);
    ch->kind = LEDGER_WALLET_PERSONAL;
    ch->tier = 4;
    ch->form = LEDGER_FORM_SOFT;
    ch->credit = r->wallet;
    ch->return_to = k->pool;
    ch->expires_at = k->spend_expires_at;
    ch->mcc_count = k->mcc_count;
    memcpy(ch->mccs, k->mccs, sizeof ch->mccs);
    struct ledger_cmd *t = &cmds[n++];
    memset(t, 0, sizeof *t);
    t->op = LEDGER_OP_TRANSFER;
    t->kind = LEDGER_KIND_CAMPAIGN;
    t->actor = (uint16_t)k->operator_index;
    scen_derive("campaign-prize", k->id.b, 16, r->reg.b, 16, &t->id);
    t->debit = k->pool;
    t->credit = ch->id;
    t->amount = k->amount;
    char hex[33];
    jz_id_to_hex(&k->id, hex);
    t->ref_len = 32;
    memcpy(t->ref, hex, 32);
    return n;
}

/* The published draw: seed, registrations, winners and each prize's outcome. */
static void write_draw(api_call *c, const struct scen_campaign *k, const struct draw *d,
                       const struct ledger_cmd *prizes, const struct ledger_result *res)
{
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"campaign\":");
    jb_id(b, &k->id);
    jb_lit(b, ",\"algorithm\":\"" SCEN_DRAW_ALGORITHM "\",\"seed\":");
    write_hex(b, k->seed, 32);
    jb_lit(b, ",\"seed_commitment\":");
    write_hex(b, k->commitment, 32);
    jb_lit(b, ",\"digest\":");
    write_hex(b, d->digest, 32);
    jb_lit(b, ",\"amount\":");
    jb_int(b, k->amount);
    jb_lit(b, ",\"registrations\":[");
    for (uint32_t i = 0; i < d->n; i++) {
        jb_lit(b, i ? "," : "");
        jb_id(b, &d->ids[i]);
    }
    jb_lit(b, "],\"winners\":[");
    for (int64_t i = 0; i < d->k; i++) {
        const struct ledger_cmd *t = &prizes[i];
        jb_lit(b, i ? ",{\"registration\":" : "{\"registration\":");
        jb_id(b, &d->ids[d->winners[i]]);
        jb_lit(b, ",\"child\":");
        jb_id(b, &t->credit);
        jb_lit(b, ",\"prize\":");
        jb_id(b, &t->id);
        jb_lit(b, ",\"status\":");
        jb_cstr(b, res[i].code == JZ_OK ? "credited" : jz_result_name(res[i].code));
        jb_lit(b, "}");
    }
    jb_lit(b, "]}");
}

/* Credits the winners (one request: opens, then prizes) and answers with the draw. */
static void draw_credit(api_call *c, struct scen_campaign *k, const struct draw *d)
{
    struct ledger_cmd *cmds = calloc(3 * (size_t)d->k + 1, sizeof *cmds);
    struct ledger_result *res = calloc(3 * (size_t)d->k + 1, sizeof *res);
    struct ledger_cmd *prizes = calloc((size_t)d->k + 1, sizeof *prizes);
    struct ledger_result *prize_res = calloc((size_t)d->k + 1, sizeof *prize_res);
    if (!cmds || !res || !prizes || !prize_res) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
        goto done;
    }
    uint32_t n = 0;
    for (int64_t i = 0; i < d->k; i++) {
        n = winner_cmds(k, &d->regs[d->winners[i]], cmds, n);
        prizes[i] = cmds[n - 1];
    }
    if (n > 0 && api_call_run(c, cmds, n, res, NULL, NULL) != 0) {
        goto done;
    }
    scen_expiry_hint(scen_of(c), k->spend_expires_at);
    for (uint32_t i = 0, w = 0; i < n; i++) {
        if (cmds[i].op == LEDGER_OP_TRANSFER) {
            prize_res[w++] = res[i];
        } else if (!jz_id_is_zero(&cmds[i].credit) && res[i].code == JZ_OK &&
                   scen_store_child_put(scen_of(c)->store, &cmds[i].id, &cmds[i].credit,
                                        res[i].timestamp) != 0) {
            scen_fail_store(c);
            goto done;
        }
    }
    int64_t now = api_now_ms(api_call_api(c));
    if (scen_store_campaign_drawn(scen_of(c)->store, &k->id, k->seed, now) < 0) {
        scen_fail_store(c);
        goto done;
    }
    write_draw(c, k, d, prizes, prize_res);
    api_call_respond(c, 200);
done:
    free(cmds);
    free(res);
    free(prizes);
    free(prize_res);
}

void scen_h_draw(api_call *c, json_t *body)
{
    struct scen *s = scen_of(c);
    struct scen_campaign k;
    char seed_hex[65] = "";
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "seed", .type = FIELD_STRING, .required = true, .out = seed_hex, .min = 64,
         .max = 64},
    };
    if (json_fields_parse(body, specs, 1, "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    if (campaign_of_path(c, &k) != 0) {
        return;
    }
    uint8_t seed[32];
    uint8_t digest[CRYPTO_SM3_BYTES];
    int64_t now = api_now_ms(s->a);
    if (k.operator_index != api_call_actor(c)) {
        api_call_fail(c, JZ_FORBIDDEN, "id", "only the campaign's operator draws");
    } else if (now < k.closes_at) {
        api_call_fail(c, JZ_DRAW_NOT_READY, "id", "registration is still open");
    } else if (now >= k.spend_expires_at) {
        api_call_fail(c, JZ_FUNDS_EXPIRED, "id", "the campaign's spending period is over");
    } else if (jz_hex_decode(seed_hex, 64, seed, sizeof seed) != 0 ||
               crypto_sm3(seed, sizeof seed, digest) != 0 ||
               memcmp(digest, k.commitment, sizeof digest) != 0) {
        api_call_fail(c, JZ_SEED_MISMATCH, "seed", "the seed does not hash to the commitment");
    } else {
        struct draw d;
        memcpy(k.seed, seed, sizeof seed);
        pthread_mutex_lock(&s->draw_mu);
        if (draw_run(c, &k, seed, &d) == 0 &&
            scen_note(c, SCEN_EV_DRAW, &k.id, NULL, d.k, seed, sizeof seed) == 0) {
            draw_credit(c, &k, &d);
        }
        pthread_mutex_unlock(&s->draw_mu);
        draw_free(&d);
    }
}

struct prize_read {
    struct ledger_cmd *prizes;
    struct ledger_result *res;
    int64_t n;
};

static void read_prizes(const ledger *l, void *ctx)
{
    struct prize_read *q = ctx;
    for (int64_t i = 0; i < q->n; i++) {
        if (ledger_transfer_result(l, &q->prizes[i].id, &q->res[i]) != 0) {
            q->res[i].code = JZ_TRANSFER_NOT_FOUND;
        }
    }
}

void scen_h_draw_get(api_call *c, json_t *body)
{
    (void)body;
    struct scen_campaign k;
    struct draw d;
    if (campaign_of_path(c, &k) != 0) {
        return;
    }
    if (!k.drawn_at) {
        api_call_fail(c, JZ_DRAW_NOT_READY, "id", "the campaign has not been drawn");
        return;
    }
    if (draw_run(c, &k, k.seed, &d) == 0) {
        struct ledger_cmd *cmds = calloc(3 * (size_t)d.k + 1, sizeof *cmds);
        struct prize_read q = {.prizes = calloc((size_t)d.k + 1, sizeof *q.prizes),
                               .res = calloc((size_t)d.k + 1, sizeof *q.res), .n = d.k};
        if (!cmds || !q.prizes || !q.res) {
            api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
        } else {
            for (int64_t i = 0; i < d.k; i++) {
                uint32_t n = winner_cmds(&k, &d.regs[d.winners[i]], cmds, 0);
                q.prizes[i] = cmds[n - 1];
            }
            if (api_call_read(c, read_prizes, &q) == 0) {
                write_draw(c, &k, &d, q.prizes, q.res);
                api_call_respond(c, 200);
            }
        }
        free(cmds);
        free(q.prizes);
        free(q.res);
    }
    draw_free(&d);
}
