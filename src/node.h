/*
 * node.h: one jiaozi node's data directory and running state: configuration, the node's
 * SM2 key, the journal, snapshots, the ledger and the executor, put together.
 *
 * DIR/jiaozi.conf   sizes and policies fixed at init (key = value lines)
 * DIR/node.key      the node's SM2 private key (mode 0600): signs journal checkpoints
 * DIR/node.pub      its public key: all an auditor needs for `jiaozi audit verify`
 * DIR/master.key    48 random bytes (mode 0600) that seal API secrets at rest
 * DIR/journal/      the journal segments (journal.h)
 * DIR/snapshots/    snapshots (snapshot.h)
 *
 * Opening a node recovers it: newest valid snapshot, then the journal after it. The node is
 * then serving: commands go through node_executor().
 */
#ifndef JZ_NODE_H
#define JZ_NODE_H

#include "crypto.h"
#include "executor.h"
#include "io.h"
#include "ledger.h"

struct node_config {
    uint32_t wallets_max;
    uint32_t transfers_max;
    uint32_t holds_max;
    uint32_t segment_bytes;
    uint32_t checkpoint_every;
    uint64_t snapshot_every; /* batches; 0 = only on request and at close */
};

/* Defaults for a small deployment (and the tests): 100,000 wallets, 1,000,000 transfers. */
void node_config_default(struct node_config *cfg);

/* Creates DIR (empty or absent) with config, key pair, journal and the genesis record
 * (central institution and issuance account). Fails if DIR already holds a node. */
int node_init(const char *dir, const struct node_config *cfg, char *err, size_t err_len);

struct node_options {
    const char *dir;
    const struct io_ops *io;       /* NULL = io_posix */
    int64_t (*now_ms)(void *ctx);  /* NULL = wall clock */
    void *clock_ctx;
    uint32_t queue_max;            /* 0 = default */
    bool history;                  /* keep DIR/history.db up to date (the projector) */
};

typedef struct node node;

int node_open(const struct node_options *opt, node **out, char *err, size_t err_len);
/* Stops the executor (everything queued is applied and made durable), writes a snapshot if
 * asked and the node has not failed, and frees the node. Returns -1 if the node had failed
 * or the snapshot could not be written. */
int node_close(node *n, bool snapshot);

executor *node_executor(node *n);
/* The history store and its projector (NULL unless opened with history). */
struct store *node_store(node *n);
struct projector *node_projector(node *n);
const char *node_dir(const node *n);

/* The node's SM2 key (signs checkpoints and the audit head). */
const crypto_sm2_key *node_signing_key(const node *n);

/* The treasury wallet id of an institution: derived from its id, so that a replayed
 * institution creation names the same treasury and clients can compute it. */
void node_treasury_id(const char *institution, jz_id *out);

/* API credentials: a new key id and 32-byte secret, and the secret sealed under the node's
 * master key (DIR/master.key) with the key id as associated data. */
#define NODE_SECRET_BYTES 32
int node_new_credentials(node *nd, jz_id *key_id, uint8_t secret[NODE_SECRET_BYTES],
                         uint8_t sealed[LEDGER_SEALED_BYTES]);
int node_unseal_secret(const node *nd, const jz_id *key_id,
                       const uint8_t sealed[LEDGER_SEALED_BYTES],
                       uint8_t secret[NODE_SECRET_BYTES]);

/* Seals a holder identity record for wallet_id (the associated data) under the master key:
 * out receives len + CRYPTO_SEAL_OVERHEAD bytes. */
int node_seal_holder(const node *nd, const jz_id *wallet_id, const void *plain, size_t len,
                     uint8_t *out);
/* The reverse (for a disclosure): out receives len - CRYPTO_SEAL_OVERHEAD bytes. 0, or -1
 * when the record does not unseal for this wallet under this master key. */
int node_unseal_holder(const node *nd, const jz_id *wallet_id, const uint8_t *sealed,
                       size_t len, uint8_t *out);
/* A key for one purpose, derived from the master key: HMAC-SM3(master, label). The risk
 * module keys its pseudonyms with it ("jiaozi pseudonym v1"). */
int node_derive_key(const node *nd, const char *label, uint8_t out[CRYPTO_SM3_BYTES]);

/* Rebuilds DIR/history.db from the journal (the node must be stopped): the result is the
 * same as the projector's. */
int node_reindex(const char *dir, char *err, size_t err_len);
const struct node_config *node_get_config(const node *n);
/* Recovery figures of the last node_open. */
struct node_recovery {
    uint64_t snapshot_seq;
    uint64_t replayed_records;
    uint64_t replayed_commands;
    uint64_t head_seq;
    double seconds;
};
const struct node_recovery *node_recovery_info(const node *n);

/* Reads DIR/jiaozi.conf. */
int node_config_read(const char *dir, struct node_config *cfg, char *err, size_t err_len);
/* The ledger configuration that goes with a node configuration. */
void node_ledger_config(const struct node_config *cfg, struct ledger_config *out);

/* Opens DIR offline (no executor) and recovers its ledger: for audit and tests. The
 * caller owns the ledger. */
int node_recover_ledger(const char *dir, ledger **out, uint64_t *head_seq, char *err,
                        size_t err_len);

#endif
