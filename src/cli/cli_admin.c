/*
 * cli_admin.c: `jiaozi init`, `jiaozi audit verify` and `jiaozi snapshot`.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "journal.h"
#include "node.h"
#include "snapshot.h"

static const char init_help[] =
    "usage: jiaozi init --data DIR [options]\n"
    "Creates a node's data directory: configuration, SM2 key pair (node.key, mode 0600;\n"
    "node.pub), the journal and its genesis record (central bank and issuance account).\n"
    "  --wallets N          wallets the node can hold (default 100000)\n"
    "  --transfers N        transfer and hold ids kept for idempotency (default 1000000)\n"
    "  --holds N            holds of any status (default 100000)\n"
    "  --segment-bytes N    journal segment size (default 67108864)\n"
    "  --checkpoint-every N batches between signed checkpoints (default 256)\n"
    "  --snapshot-every N   batches between snapshots, 0 = only at shutdown (default 10000)\n";

int cli_init(int argc, char **argv)
{
    static const char *const known[] = {"--data", "--wallets", "--transfers", "--holds",
                                        "--segment-bytes", "--checkpoint-every",
                                        "--snapshot-every", NULL};
    static const char *const flags[] = {"--help", NULL};
    if (cli_flag(argc, argv, "--help")) {
        fputs(init_help, stdout);
        return 0;
    }
    const char *dir = cli_opt(argc, argv, "--data");
    if (cli_check_options(argc, argv, known, flags) != 0 || !dir) {
        fputs(init_help, stderr);
        return 2;
    }
    struct node_config cfg;
    node_config_default(&cfg);
    cfg.wallets_max = (uint32_t)cli_opt_u64(argc, argv, "--wallets", cfg.wallets_max, 1u << 30);
    cfg.transfers_max =
        (uint32_t)cli_opt_u64(argc, argv, "--transfers", cfg.transfers_max, 1u << 30);
    cfg.holds_max = (uint32_t)cli_opt_u64(argc, argv, "--holds", cfg.holds_max, 1u << 30);
    cfg.segment_bytes = (uint32_t)cli_opt_u64(argc, argv, "--segment-bytes", cfg.segment_bytes,
                                              1u << 30);
    cfg.checkpoint_every = (uint32_t)cli_opt_u64(argc, argv, "--checkpoint-every",
                                                 cfg.checkpoint_every, 1u << 20);
    cfg.snapshot_every = cli_opt_u64(argc, argv, "--snapshot-every", cfg.snapshot_every,
                                     UINT32_MAX);
    char err[1024];
    if (node_init(dir, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi init: %s\n", err);
        return 1;
    }
    printf("initialised %s (wallets_max %u, transfers_max %u)\n", dir, cfg.wallets_max,
           cfg.transfers_max);
    return 0;
}

static const char audit_help[] =
    "usage: jiaozi audit verify DIR [--public-key FILE]\n"
    "Checks every record of DIR's journal (CRC32C, sequence, SM3 hash chain) and every\n"
    "signed checkpoint with nothing but the node's public key (DIR/node.pub unless\n"
    "--public-key is given). Prints the chain head; exits 1 on any fault, naming the file\n"
    "and byte offset.\n";

static int load_public_key(const char *path, crypto_sm2_key **out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "jiaozi audit: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char pem[4096];
    size_t n = fread(pem, 1, sizeof pem - 1, f);
    fclose(f);
    pem[n] = '\0';
    if (crypto_sm2_load_public_pem(pem, n, out) != 0) {
        fprintf(stderr, "jiaozi audit: %s: not an SM2 public key\n", path);
        return -1;
    }
    return 0;
}

int cli_audit(int argc, char **argv)
{
    static const char *const known[] = {"--public-key", NULL};
    static const char *const flags[] = {"--help", NULL};
    if (argc >= 1 && strcmp(argv[0], "--help") == 0) {
        fputs(audit_help, stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[0], "verify") != 0 ||
        cli_check_options(argc - 2, argv + 2, known, flags) != 0) {
        fputs(audit_help, stderr);
        return 2;
    }
    const char *dir = argv[1];
    char keypath[4096];
    const char *kp = cli_opt(argc, argv, "--public-key");
    snprintf(keypath, sizeof keypath, "%s/node.pub", dir);
    crypto_sm2_key *pub = NULL;
    if (load_public_key(kp ? kp : keypath, &pub) != 0) {
        return 1;
    }
    struct journal_verify_report rep;
    char err[1024];
    int rc = journal_verify(dir, pub, &rep, err, sizeof err);
    crypto_sm2_free(pub);
    if (rc != 0) {
        fprintf(stderr, "jiaozi audit: FAULT: %s\n", err);
        printf("verified %" PRIu64 " records before the fault\n", rep.records);
        return 1;
    }
    char hex[2 * CRYPTO_SM3_BYTES + 1];
    jz_hex_encode(rep.head_hash, CRYPTO_SM3_BYTES, hex);
    printf("journal ok: %" PRIu64 " records (%" PRIu64 " batches, %" PRIu64 " checkpoints, %" PRIu64
           " commands)\n", rep.records, rep.batches, rep.checkpoints, rep.commands);
    printf("head seq %" PRIu64 " hash %s\n", rep.head_seq, hex);
    printf("last signed checkpoint covers seq %" PRIu64 "\n", rep.last_checkpoint_seq);
    return 0;
}

static const char snapshot_help[] =
    "usage: jiaozi snapshot --data DIR\n"
    "Recovers DIR (newest snapshot + journal) and writes a new snapshot of its state, so the\n"
    "next start replays less. Run it while the node is stopped.\n";

int cli_snapshot(int argc, char **argv)
{
    static const char *const known[] = {"--data", NULL};
    static const char *const flags[] = {"--help", NULL};
    if (cli_flag(argc, argv, "--help")) {
        fputs(snapshot_help, stdout);
        return 0;
    }
    const char *dir = cli_opt(argc, argv, "--data");
    if (cli_check_options(argc, argv, known, flags) != 0 || !dir) {
        fputs(snapshot_help, stderr);
        return 2;
    }
    node *n = NULL;
    struct node_options opt = {.dir = dir};
    char err[1024];
    if (node_open(&opt, &n, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi snapshot: %s\n", err);
        return 1;
    }
    const struct node_recovery *rec = node_recovery_info(n);
    uint64_t head = rec->head_seq;
    if (node_close(n, true) != 0) {
        fprintf(stderr, "jiaozi snapshot: writing the snapshot failed\n");
        return 1;
    }
    printf("snapshot written at journal seq %" PRIu64 "\n", head);
    return 0;
}

static const char reindex_help[] =
    "usage: jiaozi reindex --data DIR\n"
    "Rebuilds DIR/history.db (the queryable history) from the journal. The history is\n"
    "derived data: the result is the same as what the running node's projector wrote.\n"
    "Run it while the node is stopped.\n";

int cli_reindex(int argc, char **argv)
{
    static const char *const known[] = {"--data", NULL};
    static const char *const flags[] = {"--help", NULL};
    if (cli_flag(argc, argv, "--help")) {
        fputs(reindex_help, stdout);
        return 0;
    }
    const char *dir = cli_opt(argc, argv, "--data");
    if (cli_check_options(argc, argv, known, flags) != 0 || !dir) {
        fputs(reindex_help, stderr);
        return 2;
    }
    char err[1024];
    if (node_reindex(dir, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi reindex: %s\n", err);
        return 1;
    }
    printf("history rebuilt: %s/history.db\n", dir);
    return 0;
}
