/*
 * clearing_world.h: the set-up the clearing suites share: the two operators of world.h, each
 * with a funded customer and a merchant, and small helpers for payments, cut-offs and files.
 *
 *   opa: customer A (tier 1, 1,000,000 fen), merchant MA (category 5411)
 *   opb: customer B (tier 1, 1,000,000 fen), merchant MB (category 5812)
 */
#ifndef JZ_TEST_CLEARING_WORLD_H
#define JZ_TEST_CLEARING_WORLD_H

#include <jansson.h>

#include "world.h"

struct cworld {
    struct world w;
    char a[33], ma[33], b[33], mb[33];
};

/* Starts the server and makes the wallets. 0 on success. */
int cw_start(struct cworld *cw);
/* Starts a world, runs body on it, and stops its server whatever body did (a REQUIRE that
 * returns early must not leave a server running). */
void cw_run(void (*body)(struct cworld *cw));
/* The same on a server already started in cw->w.s. */
int cw_start_on(struct cworld *cw);
/* Opens a merchant wallet of c's operator with a category; returns the HTTP status. */
int cw_merchant(struct cworld *cw, const struct srv_creds *c, int mcc, char id[33]);
/* Posts a transfer with a fresh id written to id (may be NULL); returns the HTTP status. */
int cw_pay(struct cworld *cw, const struct srv_creds *c, const char *from, const char *to,
           long long amount, const char *kind, char id[33]);
/* POST /v1/clearing/cutoff as central: the new cycle's number, or -1. */
long long cw_cutoff(struct cworld *cw);
/* GET path as c, parsed (NULL unless 200); *status gets the HTTP status when not NULL. */
json_t *cw_get(struct cworld *cw, const struct srv_creds *c, const char *path, int *status);
/* GET a file of a cycle as c into r (caller frees); returns the status. */
int cw_file(struct cworld *cw, const struct srv_creds *c, long long cycle, const char *name,
            struct srv_response *r);
/* The integer at key of a JSON object, or -1. */
long long cw_int(json_t *o, const char *key);
/* A wallet's balance as its operator reads it, or -1. */
long long cw_balance(struct cworld *cw, const struct srv_creds *c, const char *wallet);
/* The I lines of an item file: count, and whether id appears (how often, in *times). */
int cw_items(const char *csv, const char *id, int *times);

#endif
