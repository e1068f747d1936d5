/*
 * pay.c: a first program against the jiaozi C SDK (include/jiaozi.h, libjiaozi).
 *
 *     pay [CENTRAL_CREDENTIALS [OPERATOR_CREDENTIALS]]
 *
 * With the central bank's credentials (default ./jiaozi-data/central.json, written by
 * `jiaozi serve --data jiaozi-data`) it prints the node's health and the signed head of its
 * audit chain. Given an operator's credentials too (from `jiaozi institution add --id icbc
 * --name ICBC --out icbc.json`), it then walks through a payment end to end:
 *   1. central issues 100.00 yuan of quota to the operator's treasury;
 *   2. the operator opens two personal wallets, Alice's and Bob's;
 *   3. Alice exchanges 50.00 yuan in (her bank deposit becomes digital cash: exchange_in moves
 *      it from the treasury into her wallet);
 *   4. Alice pays Bob 12.34 yuan;
 *   5. both wallets are printed.
 * Amounts are integers of fen (1 yuan = 100 fen). Every call either succeeds or fills a
 * jz_error; nothing returned needs freeing but the client handles.
 *
 * Build: make build/examples/pay   (or: cc pay.c $(pkg-config --cflags --libs jiaozi)
 * -ljansson -lcrypto)
 */
#include <inttypes.h>
#include <stdio.h>

#include "jiaozi.h"

static int fail(const char *what, const jz_error *e)
{
    fprintf(stderr, "pay: %s failed: %s (HTTP %d): %s%s%s\n", what, e->code, e->http_status,
            e->message, e->field[0] ? " field " : "", e->field);
    return 1;
}

static void print_wallet(const char *who, const jz_wallet *w)
{
    printf("%-6s wallet %s  %s tier %d  %s  balance %" PRId64 ".%02" PRId64 " yuan\n", who,
           w->id, w->kind, w->tier, w->status, w->balance / 100, w->balance % 100);
}

static int show_node(jz_client *central)
{
    jz_error e;
    jz_health health;
    jz_audit_head head;
    if (jz_healthz(central, &health, &e) != 0) {
        return fail("healthz", &e);
    }
    printf("health %s, journal seq %" PRIu64 "\n", health.status, health.seq);
    if (jz_audit_get_head(central, &head, &e) != 0) {
        return fail("audit head", &e);
    }
    printf("audit head seq %" PRIu64 " hash %s\n", head.seq, head.hash);
    return 0;
}

static int open_wallet(jz_client *op, const char *name, jz_wallet *out)
{
    jz_error e;
    jz_wallet_spec spec = {.kind = "personal", .tier = 2, .form = "soft", .holder_name = name};
    if (jz_wallet_open(op, &spec, out, &e) != 0) {
        return fail("wallet open", &e);
    }
    return 0;
}

static int walk_through(jz_client *central, jz_client *op)
{
    jz_error e;
    jz_institution me;
    jz_transfer t;
    if (jz_institution_get(op, jz_client_institution(op), &me, &e) != 0) {
        return fail("institution get", &e);
    }
    if (jz_quota_issue(central, NULL, me.id, 10000, &t, &e) != 0) {
        return fail("quota issue", &e);
    }
    printf("issued 100.00 yuan of quota to %s (transfer %s)\n", me.id, t.id);
    jz_wallet alice;
    jz_wallet bob;
    if (open_wallet(op, "Alice", &alice) != 0 || open_wallet(op, "Bob", &bob) != 0) {
        return 1;
    }
    jz_transfer_spec in = {.debit = me.treasury, .credit = alice.id, .amount = 5000,
                           .kind = "exchange_in"};
    if (jz_transfer_create(op, &in, &t, &e) != 0) {
        return fail("exchange in", &e);
    }
    jz_transfer_spec pay = {.debit = alice.id, .credit = bob.id, .amount = 1234, .kind = "p2p",
                            .memo = "dumplings"};
    if (jz_transfer_create(op, &pay, &t, &e) != 0) {
        return fail("payment", &e);
    }
    printf("paid 12.34 yuan: transfer %s %s\n", t.id, t.status);
    if (jz_wallet_get(op, alice.id, &alice, &e) != 0 || jz_wallet_get(op, bob.id, &bob, &e)) {
        return fail("wallet get", &e);
    }
    print_wallet("Alice", &alice);
    print_wallet("Bob", &bob);
    return 0;
}

int main(int argc, char **argv)
{
    const char *central_path = argc > 1 ? argv[1] : "./jiaozi-data/central.json";
    jz_error e;
    jz_client *central = jz_client_from_file(central_path, &e);
    if (!central) {
        return fail("loading credentials", &e);
    }
    int rc = show_node(central);
    if (rc == 0 && argc > 2) {
        jz_client *op = jz_client_from_file(argv[2], &e);
        rc = op ? walk_through(central, op) : fail("loading operator credentials", &e);
        jz_client_free(op);
    }
    jz_client_free(central);
    return rc;
}
