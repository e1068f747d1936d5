/*
 * world.h: the common set-up of the API integration suites: a served node with two
 * operators, "opa" and "opb", each with credentials and 100,000,000 fen of quota.
 */
#ifndef JZ_TEST_WORLD_H
#define JZ_TEST_WORLD_H

#include "server.h"

struct world {
    struct srv s;
    struct srv_creds op;  /* operator "opa" */
    struct srv_creds op2; /* operator "opb" */
    char treasury[33];
    char treasury2[33];
};

/* Starts the server in test_tmpdir()/node and creates both operators. 0 on success. */
int world_start(struct world *w);
/* The same two operators on a server the caller started in w->s (with its own options). */
int world_start_on(struct world *w);
/* Opens a wallet of c's operator (personal, soft, the given tier); returns the HTTP status
 * and writes the new wallet's id. */
int open_wallet(struct world *w, const struct srv_creds *c, int tier, char id[33]);
/* POST /v1/transfers; returns the HTTP status (r may be NULL). */
int transfer(struct world *w, const struct srv_creds *c, const char *id, const char *from,
             const char *to, long long amount, const char *kind, struct srv_response *r);

#endif
