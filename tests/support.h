/*
 * support.h: helpers the node-level tests share: a data directory with an operator and
 * funded wallets, deterministic workloads, and state hashes.
 */
#ifndef JZ_TEST_SUPPORT_H
#define JZ_TEST_SUPPORT_H

#include "node.h"
#include "test.h"

/* Deterministic id: tag byte, then a and b. */
jz_id sup_id(uint8_t tag, uint32_t a, uint32_t b);

/* Initialises dir with small sizes, creates operator "opa" and `wallets` tier-1 personal
 * wallets each funded with `fund` fen. Returns 0 on success. */
int sup_make_node(const char *dir, uint32_t wallets, int64_t fund, uint64_t snapshot_every);

/* The n-th transfer of the standard workload over `wallets` wallets (actor opa = 1). Pure
 * function of (seed, n). */
void sup_workload_transfer(uint64_t seed, uint64_t n, uint32_t wallets, struct ledger_cmd *c);

/* Runs cmds[0..n) as one request and waits. Returns the request status (0 = durable). */
int sup_run(executor *ex, struct ledger_cmd *cmds, struct ledger_result *results, uint32_t n);

/* SM3 of the ledger's canonical state, read on the executor thread. */
int sup_state_hash(executor *ex, uint8_t out[32]);

/* Recovers dir offline and hashes the state. */
int sup_recovered_hash(const char *dir, uint8_t out[32]);

#endif
