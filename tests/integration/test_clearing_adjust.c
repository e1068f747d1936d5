/*
 * test_clearing_adjust.c: error handling in clearing through a real `jiaozi serve`.
 * Adjustments are refused without a reason, stay unposted with one approver, refuse the same
 * approver twice and two approvers of the same role; an approved one posts as a transfer of
 * kind adjustment and appears in the next cycle exactly once, also after kill -9 and
 * recovery. A payer's dispute is accepted (the refund follows the adjustment path) or
 * rejected. And a cut-off under live payment load: every payment lands in exactly one cycle.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "clearing_world.h"
#include "test.h"

static int post(struct cworld *cw, const struct srv_creds *c, const char *path, const char *body,
                struct srv_response *r)
{
    return srv_call(&cw->w.s, c, "POST", path, body, r);
}

/* POST path as c; the answer's string at key into out (when 2xx). Returns the status. */
static int post_get(struct cworld *cw, const struct srv_creds *c, const char *path,
                    const char *body, const char *key, char *out, size_t out_len)
{
    struct srv_response r;
    int st = post(cw, c, path, body, &r);
    if (out && (st == 200 || st == 201) && srv_json_str(r.body, key, out, out_len) != 0) {
        out[0] = '\0';
    }
    srv_response_free(&r);
    return st;
}

static int approve(struct cworld *cw, const struct srv_creds *c, const char *adj, char *status)
{
    char path[120];
    snprintf(path, sizeof path, "/v1/clearing/adjustments/%s/approve", adj);
    return post_get(cw, c, path, NULL, "status", status, 16);
}

#define ADJ_SHAPE "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":1%s}"
#define DISPUTE_SHAPE "{\"id\":\"%s\",\"cycle\":%lld,\"transfer\":\"%s\"%s}"

/* The cycle document as central reads it. */
static json_t *cycle(struct cworld *cw, long long id)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/clearing/cycles/%lld", id);
    return cw_get(cw, &cw->w.s.central, path, NULL);
}

static long long adjustments_in(struct cworld *cw, long long id)
{
    json_t *o = cycle(cw, id);
    long long n = cw_int(json_object_get(o, "kinds"), "adjustment");
    json_decref(o);
    return n;
}

/* How often transfer id appears in opa's item file of a cycle. */
static int times_in(struct cworld *cw, long long cycle_id, const char *id)
{
    struct srv_response r;
    int times = -1;
    if (cw_file(cw, &cw->w.op, cycle_id, "opa.items.csv", &r) == 200) {
        (void)cw_items(r.body, id, &times);
    }
    srv_response_free(&r);
    return times;
}

static void adjustment_rules(struct cworld *cw)
{
    struct world *w = &cw->w;
    char body[600];
    char adj[33];
    char status[16];
    char transfer[33];
    struct srv_response r;
    srv_new_id(adj);
    /* opa finds it was paid 1 fen short by opb's customer: B pays MA one more fen. */
    snprintf(body, sizeof body, ADJ_SHAPE, adj, cw->b, cw->ma, "");
    CHECK_EQ_INT(post(cw, &w->op, "/v1/clearing/adjustments", body, &r), 400);
    CHECK(strstr(r.body, "missing_field") && strstr(r.body, "reason"));
    srv_response_free(&r);
    snprintf(body, sizeof body, ADJ_SHAPE, adj, cw->b, cw->ma, ",\"reason\":\"   \"");
    CHECK_EQ_INT(post(cw, &w->op, "/v1/clearing/adjustments", body, NULL), 400);
    snprintf(body, sizeof body, ADJ_SHAPE, adj, cw->b, cw->b, ",\"reason\":\"x\"");
    CHECK_EQ_INT(post(cw, &w->op, "/v1/clearing/adjustments", body, NULL), 400);
    char stranger[33];
    srv_new_id(stranger);
    snprintf(body, sizeof body, ADJ_SHAPE, adj, stranger, cw->ma, ",\"reason\":\"x\"");
    CHECK_EQ_INT(post(cw, &w->op, "/v1/clearing/adjustments", body, NULL), 404);
    snprintf(body, sizeof body, ADJ_SHAPE, adj, cw->b, cw->mb, ",\"reason\":\"x\"");
    CHECK_EQ_INT(post(cw, &w->op, "/v1/clearing/adjustments", body, NULL), 403); /* not opa's */
    snprintf(body, sizeof body, ADJ_SHAPE, adj, cw->b, cw->ma,
             ",\"reason\":\"cycle 1 short by 1 fen\",\"cycle\":7");
    CHECK_EQ_INT(post(cw, &w->op, "/v1/clearing/adjustments", body, NULL), 404); /* no cycle 7 */
    snprintf(body, sizeof body, ADJ_SHAPE, adj, cw->b, cw->ma, ",\"reason\":\"short by 1 fen\"");
    REQUIRE_EQ_INT(post_get(cw, &w->op, "/v1/clearing/adjustments", body, "transfer", transfer,
                            sizeof transfer),
                   201);
    CHECK_EQ_INT(post(cw, &w->op, "/v1/clearing/adjustments", body, NULL), 200); /* replay */
    snprintf(body, sizeof body, ADJ_SHAPE, adj, cw->b, cw->ma, ",\"reason\":\"another reason\"");
    CHECK_EQ_INT(post(cw, &w->op, "/v1/clearing/adjustments", body, &r), 409);
    CHECK(strstr(r.body, "\"field\":\"reason\"") != NULL);
    srv_response_free(&r);
    /* One approver: pending, nothing posts, a cut-off holds no adjustment. */
    CHECK_EQ_INT(approve(cw, &w->op, adj, status), 200);
    CHECK_EQ_STR(status, "pending");
    CHECK_EQ_INT(approve(cw, &w->op, adj, NULL), 409);  /* the same approver twice */
    CHECK_EQ_INT(approve(cw, &w->op2, adj, NULL), 409); /* another operator: the same role */
    post(cw, &w->op2, "/v1/clearing/adjustments/0123/approve", NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    srv_response_free(&r);
    long long c1 = cw_cutoff(cw);
    REQUIRE(c1 > 0);
    CHECK_EQ_INT(adjustments_in(cw, c1), 0);
    CHECK_EQ_INT(cw_balance(cw, &w->op2, cw->b), 1000000);
    /* The clearing officer's approval posts it; it is in the next cycle, once. */
    CHECK_EQ_INT(approve(cw, &w->s.central, adj, status), 200);
    CHECK_EQ_STR(status, "posted");
    CHECK_EQ_INT(approve(cw, &w->s.central, adj, NULL), 409);
    CHECK_EQ_INT(cw_balance(cw, &w->op2, cw->b), 1000000 - 1);
    long long c2 = cw_cutoff(cw);
    CHECK_EQ_INT(adjustments_in(cw, c2), 1);
    CHECK_EQ_INT(times_in(cw, c2, transfer), 1);
    long long c3 = cw_cutoff(cw);
    CHECK_EQ_INT(adjustments_in(cw, c3), 0);
    char path[120];
    snprintf(path, sizeof path, "/v1/clearing/adjustments/%s", adj);
    json_t *o = cw_get(cw, &w->op2, path, NULL);
    CHECK_EQ_INT(cw_int(o, "cleared_in"), c2);
    CHECK_EQ_INT(json_array_size(json_object_get(o, "approvals")), 2);
    json_decref(o);
    int st = 0;
    json_decref(
        cw_get(cw, &w->op, "/v1/clearing/adjustments/00000000000000000000000000000009", &st));
    CHECK_EQ_INT(st, 404);
}

TEST(clearing_adjustment_needs_a_reason_and_two_roles_and_clears_once)
{
    cw_run(adjustment_rules);
}

static void adjustment_kill9(struct cworld *cw)
{
    struct world *w = &cw->w;
    char body[400];
    char adj[33];
    char transfer[33];
    char status[16];
    srv_new_id(adj);
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":250,"
             "\"reason\":\"refund owed after reconciliation\"}",
             adj, cw->a, cw->mb);
    REQUIRE_EQ_INT(post_get(cw, &w->s.central, "/v1/clearing/adjustments", body, "transfer",
                            transfer, sizeof transfer),
                   201);
    REQUIRE_EQ_INT(approve(cw, &w->s.central, adj, status), 200);
    REQUIRE_EQ_INT(approve(cw, &w->op, adj, status), 200);
    CHECK_EQ_STR(status, "posted");
    char dir[512];
    snprintf(dir, sizeof dir, "%s", w->s.dir);
    srv_stop(&w->s, SIGKILL); /* no clean shutdown: recovery from the journal */
    REQUIRE(srv_start(&w->s, dir, NULL) == 0);
    CHECK_EQ_INT(approve(cw, &w->op, adj, NULL), 409);
    long long c1 = cw_cutoff(cw);
    REQUIRE(c1 == 1);
    CHECK_EQ_INT(adjustments_in(cw, c1), 1);
    CHECK_EQ_INT(times_in(cw, c1, transfer), 1);
    /* Killed again right after the next cut-off: the cycles stay, nothing counts twice. */
    long long c2 = cw_cutoff(cw);
    srv_stop(&w->s, SIGKILL);
    REQUIRE(srv_start(&w->s, dir, NULL) == 0);
    CHECK_EQ_INT(adjustments_in(cw, c2), 0);
    long long c3 = cw_cutoff(cw);
    CHECK_EQ_INT(c3, c2 + 1);
    CHECK_EQ_INT(adjustments_in(cw, c3), 0);
    CHECK_EQ_INT(times_in(cw, c1, transfer), 1);
    CHECK_EQ_INT(cw_balance(cw, &w->op, cw->a), 1000000 - 250);
}

TEST(clearing_adjustment_appears_once_after_kill9_and_recovery)
{
    cw_run(adjustment_kill9);
}

static void disputes(struct cworld *cw)
{
    struct world *w = &cw->w;
    char pay[33];
    char pay2[33];
    char disp[33];
    char disp2[33];
    char adj[33];
    char status[16];
    char body[500];
    struct srv_response r;
    REQUIRE_EQ_INT(cw_pay(cw, &w->op, cw->a, cw->mb, 8800, "payment", pay), 201);
    REQUIRE_EQ_INT(cw_pay(cw, &w->op2, cw->b, cw->ma, 4000, "payment", pay2), 201);
    long long c1 = cw_cutoff(cw);
    REQUIRE(c1 == 1);
    srv_new_id(disp);
    snprintf(body, sizeof body, DISPUTE_SHAPE, disp, c1, pay, "");
    CHECK_EQ_INT(post(cw, &w->op, "/v1/clearing/disputes", body, NULL), 400); /* no reason */
    snprintf(body, sizeof body, DISPUTE_SHAPE, disp, c1, pay, ",\"reason\":\"never delivered\"");
    CHECK_EQ_INT(post(cw, &w->op2, "/v1/clearing/disputes", body, NULL), 403); /* not the payer's */
    CHECK_EQ_INT(post(cw, &w->s.central, "/v1/clearing/disputes", body, NULL), 403);
    snprintf(body, sizeof body, DISPUTE_SHAPE, disp, c1, pay,
             ",\"reason\":\"never delivered\",\"amount\":9000");
    CHECK_EQ_INT(post(cw, &w->op, "/v1/clearing/disputes", body, NULL), 400); /* > payment */
    snprintf(body, sizeof body, DISPUTE_SHAPE, disp, 9LL, pay, ",\"reason\":\"never delivered\"");
    CHECK_EQ_INT(post(cw, &w->op, "/v1/clearing/disputes", body, NULL), 404);
    snprintf(body, sizeof body, DISPUTE_SHAPE, disp, c1, pay, ",\"reason\":\"never delivered\"");
    REQUIRE_EQ_INT(post_get(cw, &w->op, "/v1/clearing/disputes", body, "status", status, 16), 201);
    CHECK_EQ_STR(status, "open");
    CHECK_EQ_INT(post(cw, &w->op, "/v1/clearing/disputes", body, NULL), 200); /* replay */
    srv_new_id(disp2);
    snprintf(body, sizeof body, DISPUTE_SHAPE, disp2, c1, pay, ",\"reason\":\"again\"");
    CHECK_EQ_INT(post(cw, &w->op, "/v1/clearing/disputes", body, NULL), 409); /* one a payment */
    char path[120];
    snprintf(path, sizeof path, "/v1/clearing/disputes/%s/accept", disp);
    CHECK_EQ_INT(post(cw, &w->op, path, NULL, NULL), 403); /* the merchant's side decides */
    REQUIRE_EQ_INT(post_get(cw, &w->op2, path, "{\"reason\":\"goods not shipped\"}", "adjustment",
                            adj, sizeof adj),
                   200);
    CHECK_EQ_INT(post(cw, &w->op2, path, NULL, NULL), 409);
    /* The refund is an adjustment with the merchant operator's approval: it waits for the
     * clearing officer, then moves 88.00 CNY back. */
    CHECK_EQ_INT(cw_balance(cw, &w->op, cw->a), 1000000 - 8800);
    CHECK_EQ_INT(approve(cw, &w->op2, adj, NULL), 409);
    CHECK_EQ_INT(approve(cw, &w->s.central, adj, status), 200);
    CHECK_EQ_STR(status, "posted");
    CHECK_EQ_INT(cw_balance(cw, &w->op, cw->a), 1000000);
    long long c2 = cw_cutoff(cw);
    CHECK_EQ_INT(adjustments_in(cw, c2), 1);
    /* opb's customer disputes its payment to opa's merchant; opa rejects it with a reason. */
    srv_new_id(disp2);
    snprintf(body, sizeof body, DISPUTE_SHAPE, disp2, c1, pay2, ",\"reason\":\"charged twice\"");
    REQUIRE_EQ_INT(post(cw, &w->op2, "/v1/clearing/disputes", body, NULL), 201);
    snprintf(path, sizeof path, "/v1/clearing/disputes/%s/reject", disp2);
    CHECK_EQ_INT(post(cw, &w->op, path, "{}", &r), 400);
    srv_response_free(&r);
    REQUIRE_EQ_INT(post_get(cw, &w->op, path, "{\"reason\":\"charged once: see receipt\"}",
                            "status", status, 16),
                   200);
    CHECK_EQ_STR(status, "rejected");
    snprintf(path, sizeof path, "/v1/clearing/disputes/%s", disp2);
    json_t *o = cw_get(cw, &w->s.central, path, NULL);
    CHECK(json_is_null(json_object_get(o, "adjustment")));
    json_decref(o);
    CHECK_EQ_INT(cw_balance(cw, &w->op2, cw->b), 1000000 - 4000);
}

TEST(clearing_dispute_accepted_refunds_through_an_adjustment_or_is_rejected)
{
    cw_run(disputes);
}

/* ---- A cut-off under live payment load ---- */

#define PAYERS 3
#define PAID_MAX 20000

struct payer {
    struct cworld *cw;
    int index;
    volatile bool *stop;
    char (*ids)[33];
    int count;
};

static void *payer_main(void *arg)
{
    struct payer *p = arg;
    struct world *w = &p->cw->w;
    bool from_a = p->index % 2 == 0;
    while (!*p->stop && p->count < PAID_MAX) {
        char id[33];
        int st = cw_pay(p->cw, from_a ? &w->op : &w->op2, from_a ? p->cw->a : p->cw->b,
                        from_a ? p->cw->mb : p->cw->ma, 1, "payment", id);
        if (st == 201) {
            memcpy(p->ids[p->count++], id, 33);
        } else if (st != 503) {
            break;
        }
    }
    return NULL;
}

static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static void live_load(struct cworld *cw)
{
    static struct payer payers[PAYERS];
    volatile bool stop = false;
    pthread_t th[PAYERS];
    for (int i = 0; i < PAYERS; i++) {
        payers[i] = (struct payer){.cw = cw, .index = i, .stop = &stop};
        payers[i].ids = calloc(PAID_MAX, 33);
        REQUIRE(payers[i].ids != NULL);
        pthread_create(&th[i], NULL, payer_main, &payers[i]);
    }
    long long cycles = 0;
    for (int k = 0; k < 4; k++) {
        usleep(300000);
        cycles = cw_cutoff(cw);
        CHECK(cycles == k + 1);
    }
    stop = true;
    size_t acked = 0;
    for (int i = 0; i < PAYERS; i++) {
        pthread_join(th[i], NULL);
        acked += (size_t)payers[i].count;
    }
    cycles = cw_cutoff(cw); /* what came after the last cut-off under load */
    REQUIRE(cycles == 5);
    /* Every acknowledged payment from the clients, sorted; every item of every cycle. */
    char(*sent)[33] = calloc(acked + 1, 33);
    char(*seen)[33] = calloc(acked + 64, 33);
    REQUIRE(sent && seen);
    size_t ns = 0;
    for (int i = 0; i < PAYERS; i++) {
        memcpy(sent[ns], payers[i].ids, (size_t)payers[i].count * 33);
        ns += (size_t)payers[i].count;
    }
    size_t nseen = 0;
    int busy_cycles = 0;
    for (long long c = 1; c <= cycles; c++) {
        struct srv_response r;
        REQUIRE_EQ_INT(cw_file(cw, &cw->w.op, c, "opa.items.csv", &r), 200);
        int in_cycle = 0;
        for (const char *p = strstr(r.body, "\nI,"); p; p = strstr(p + 1, "\nI,")) {
            if (nseen < acked + 64) {
                memcpy(seen[nseen], p + 3, 32);
                seen[nseen][32] = '\0';
            }
            nseen++;
            in_cycle++;
        }
        busy_cycles += in_cycle > 0;
        srv_response_free(&r);
    }
    CHECK(acked > 100);
    CHECK(busy_cycles >= 3); /* the cut-offs really fell while payments were flowing */
    CHECK_EQ_INT(nseen, acked);
    if (nseen == acked) {
        qsort(sent, ns, 33, id_cmp);
        qsort(seen, nseen, 33, id_cmp);
        size_t same = 0;
        for (size_t i = 0; i < ns; i++) {
            same += memcmp(sent[i], seen[i], 32) == 0;
        }
        CHECK_EQ_INT(same, acked); /* the same payments, each exactly once */
    }
    printf("  live cut-offs: %zu payments acknowledged during 4 cut-offs, each in exactly one of "
           "%lld cycles\n",
           acked, cycles);
    free(sent);
    free(seen);
    for (int i = 0; i < PAYERS; i++) {
        free(payers[i].ids);
    }
}

TEST(clearing_cutoff_under_live_load_puts_every_payment_in_exactly_one_cycle)
{
    cw_run(live_load);
}
