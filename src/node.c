/*
 * node.c: data directory, recovery and the running node (see node.h).
 */
#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "journal.h"
#include "projector.h"
#include "snapshot.h"
#include "store_sqlite.h"

#define PATH_BYTES 4096

/* A data directory's path leaves room in a PATH_BYTES buffer for the names inside it. */
#define DIR_BYTES (PATH_BYTES / 2)

struct node {
    uint8_t master[CRYPTO_SEAL_KEY_BYTES];
    char dir[DIR_BYTES];
    struct node_config cfg;
    const struct io_ops *io;
    crypto_sm2_key *key;
    ledger *ledger;
    journal *journal;
    executor *executor;
    store *store;
    projector *projector;
    struct node_recovery recovery;
};

void node_config_default(struct node_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->wallets_max = 100000;
    cfg->transfers_max = 1000000;
    cfg->holds_max = 100000;
    cfg->segment_bytes = JZ_JOURNAL_SEGMENT_BYTES_DEFAULT;
    cfg->checkpoint_every = JZ_CHECKPOINT_EVERY_DEFAULT;
    cfg->snapshot_every = 10000;
}

void node_ledger_config(const struct node_config *cfg, struct ledger_config *out)
{
    ledger_config_default(out, cfg->wallets_max, cfg->transfers_max);
    out->holds_max = cfg->holds_max;
}

/* ---- jiaozi.conf ---- */

static int config_write(const char *dir, const struct node_config *cfg, char *err, size_t n)
{
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/jiaozi.conf", dir);
    FILE *f = fopen(path, "wx");
    if (!f) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f,
            "# jiaozi node configuration, fixed at init.\n"
            "wallets_max = %u\ntransfers_max = %u\nholds_max = %u\n"
            "segment_bytes = %u\ncheckpoint_every = %u\nsnapshot_every = %" PRIu64 "\n",
            cfg->wallets_max, cfg->transfers_max, cfg->holds_max, cfg->segment_bytes,
            cfg->checkpoint_every, cfg->snapshot_every);
    int rc = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -1;
    if (fclose(f) != 0 || rc != 0) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int config_set(struct node_config *cfg, const char *key, uint64_t v)
{
    if (strcmp(key, "snapshot_every") == 0) {
        cfg->snapshot_every = v;
        return 0;
    }
    if (v > UINT32_MAX) {
        return -1;
    }
    uint32_t *fields[] = {&cfg->wallets_max, &cfg->transfers_max, &cfg->holds_max,
                          &cfg->segment_bytes, &cfg->checkpoint_every};
    const char *names[] = {"wallets_max", "transfers_max", "holds_max", "segment_bytes",
                           "checkpoint_every"};
    for (size_t i = 0; i < JZ_ARRAY_LEN(names); i++) {
        if (strcmp(key, names[i]) == 0) {
            *fields[i] = (uint32_t)v;
            return 0;
        }
    }
    return -1;
}

int node_config_read(const char *dir, struct node_config *cfg, char *err, size_t n)
{
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/jiaozi.conf", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, n, "%s: %s (not a jiaozi data directory? run `jiaozi init`)", path,
                 strerror(errno));
        return -1;
    }
    node_config_default(cfg);
    char line[256];
    int lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char key[64];
        unsigned long long v;
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        if (sscanf(line, "%63s = %llu", key, &v) != 2 || config_set(cfg, key, v) != 0) {
            snprintf(err, n, "%s:%d: not a valid setting", path, lineno);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

/* ---- Keys ---- */

/* DIR/master.key: 48 random bytes, mode 0600, the key that seals API secrets (and later the
 * vaults' data keys). Never leaves the node; lose it and the sealed secrets are lost too. */
static int master_key_create(const char *dir, char *err, size_t n)
{
    char path[PATH_BYTES];
    uint8_t key[CRYPTO_SEAL_KEY_BYTES];
    snprintf(path, sizeof path, "%s/master.key", dir);
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    int rc = fd >= 0 && crypto_random(key, sizeof key) == 0 &&
                     io_pwrite_all(&io_posix, fd, key, sizeof key, 0) == 0 && fsync(fd) == 0
                 ? 0 : -1;
    crypto_wipe(key, sizeof key);
    if (fd >= 0) {
        close(fd);
    }
    if (rc != 0) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
    }
    return rc;
}

static int master_key_load(node *nd, char *err, size_t n)
{
    char path[PATH_BYTES];
    size_t got = 0;
    snprintf(path, sizeof path, "%s/master.key", nd->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint8_t extra;
    int rc = fd >= 0 && io_pread_full(&io_posix, fd, nd->master, sizeof nd->master, 0, &got) == 0 &&
                     got == sizeof nd->master && pread(fd, &extra, 1, (off_t)got) == 0
                 ? 0 : -1;
    if (fd >= 0) {
        close(fd);
    }
    if (rc != 0) {
        snprintf(err, n, "%s: missing or not %d bytes", path, CRYPTO_SEAL_KEY_BYTES);
    }
    return rc;
}

void node_treasury_id(const char *institution, jz_id *out)
{
    uint8_t h[CRYPTO_SM3_BYTES];
    char label[64];
    int len = snprintf(label, sizeof label, "jiaozi/treasury/%s", institution);
    ASSERT(crypto_sm3(label, (size_t)len, h) == 0);
    memcpy(out->b, h, sizeof out->b);
}

int node_new_credentials(node *nd, jz_id *key_id, uint8_t secret[NODE_SECRET_BYTES],
                         uint8_t sealed[LEDGER_SEALED_BYTES])
{
    if (crypto_random(key_id->b, sizeof key_id->b) != 0 ||
        crypto_random(secret, NODE_SECRET_BYTES) != 0) {
        return -1;
    }
    return crypto_seal(nd->master, key_id->b, sizeof key_id->b, secret, NODE_SECRET_BYTES, sealed);
}

int node_unseal_secret(const node *nd, const jz_id *key_id,
                       const uint8_t sealed[LEDGER_SEALED_BYTES],
                       uint8_t secret[NODE_SECRET_BYTES])
{
    return crypto_unseal(nd->master, key_id->b, sizeof key_id->b, sealed, LEDGER_SEALED_BYTES,
                         secret);
}

int node_seal_holder(const node *nd, const jz_id *wallet_id, const void *plain, size_t len,
                     uint8_t *out)
{
    return crypto_seal(nd->master, wallet_id->b, sizeof wallet_id->b, plain, len, out);
}

int node_unseal_holder(const node *nd, const jz_id *wallet_id, const uint8_t *sealed,
                       size_t len, uint8_t *out)
{
    if (len < CRYPTO_SEAL_OVERHEAD) {
        return -1;
    }
    return crypto_unseal(nd->master, wallet_id->b, sizeof wallet_id->b, sealed, len, out);
}

int node_derive_key(const node *nd, const char *label, uint8_t out[CRYPTO_SM3_BYTES])
{
    return crypto_hmac_sm3(nd->master, sizeof nd->master, label, strlen(label), out);
}

/* ---- Init ---- */

static int genesis(const char *dir, char *err, size_t n)
{
    node *nd = NULL;
    struct node_options opt = {.dir = dir};
    if (node_open(&opt, &nd, err, n) != 0) {
        return -1;
    }
    struct ledger_cmd cmd;
    struct ledger_result result;
    struct executor_request req;
    memset(&cmd, 0, sizeof cmd);
    cmd.op = LEDGER_OP_GENESIS;
    cmd.kind = LEDGER_INST_CENTRAL;
    strcpy(cmd.inst.s, "central");
    memcpy(cmd.name, "Central bank", 12);
    cmd.name_len = 12;
    uint8_t secret[NODE_SECRET_BYTES];
    node_treasury_id("central", &cmd.debit);
    int sealed = node_new_credentials(nd, &cmd.key_id, secret, cmd.sealed);
    crypto_wipe(secret, sizeof secret);
    if (sealed != 0) {
        snprintf(err, n, "cannot make the central bank's credentials");
        node_close(nd, false);
        return -1;
    }
    executor_request_init(&req);
    req.cmds = &cmd;
    req.results = &result;
    req.count = 1;
    int rc = executor_run(nd->executor, &req);
    executor_request_destroy(&req);
    if (rc != 0 || result.code != JZ_OK) {
        snprintf(err, n, "genesis failed: %s", rc != 0 ? "journal" : jz_result_name(result.code));
        node_close(nd, false);
        return -1;
    }
    return node_close(nd, true);
}

int node_init(const char *dir, const struct node_config *cfg, char *err, size_t n)
{
    char path[PATH_BYTES];
    if (strlen(dir) >= DIR_BYTES) {
        snprintf(err, n, "data directory path too long");
        return -1;
    }
    if (io_mkdir_p(dir) != 0) {
        snprintf(err, n, "%s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/jiaozi.conf", dir);
    if (access(path, F_OK) == 0) {
        snprintf(err, n, "%s already holds a jiaozi node", dir);
        return -1;
    }
    struct ledger_config lcfg;
    node_ledger_config(cfg, &lcfg);
    ledger *probe = ledger_new(&lcfg);
    if (!probe) {
        snprintf(err, n, "configuration rejected or too large for memory");
        return -1;
    }
    ledger_free(probe);
    crypto_sm2_key *key = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    if (crypto_sm2_generate(&key) != 0 || crypto_sm2_public_pem(key, &pem, &pem_len) != 0) {
        snprintf(err, n, "cannot make the node's SM2 key");
        crypto_sm2_free(key);
        return -1;
    }
    snprintf(path, sizeof path, "%s/node.key", dir);
    int rc = crypto_sm2_save_private(key, path);
    crypto_sm2_free(key);
    if (rc != 0) {
        snprintf(err, n, "%s: cannot write the node key", path);
        free(pem);
        return -1;
    }
    snprintf(path, sizeof path, "%s/node.pub", dir);
    FILE *f = fopen(path, "wx");
    rc = f && fwrite(pem, 1, pem_len, f) == pem_len && fflush(f) == 0 && fsync(fileno(f)) == 0
             ? 0 : -1;
    if (f) {
        fclose(f);
    }
    free(pem);
    if (rc != 0) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct journal_config jcfg = {.dir = dir, .segment_bytes = cfg->segment_bytes};
    if (master_key_create(dir, err, n) != 0 || config_write(dir, cfg, err, n) != 0 ||
        journal_create(&jcfg, err, n) != 0) {
        return -1;
    }
    return genesis(dir, err, n);
}

/* ---- Open, recover, close ---- */

struct replay_ctx {
    ledger *ledger;
    struct ledger_cmd *cmds;
    struct ledger_result *results;
    uint64_t records;
    uint64_t commands;
};

static int replay_one(void *arg, const struct journal_record *rec)
{
    struct replay_ctx *rc = arg;
    if (executor_replay_record(rc->ledger, rec, rc->cmds, rc->results) != 0) {
        return -1;
    }
    rc->records++;
    rc->commands += rec->count;
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Recovers n->ledger and opens n->journal. */
static int recover(node *n, const crypto_sm2_key *key, char *err, size_t err_len)
{
    double start = now_seconds();
    struct ledger_config lcfg;
    node_ledger_config(&n->cfg, &lcfg);
    uint64_t snap_seq = 0;
    uint8_t snap_hash[CRYPTO_SM3_BYTES];
    if (snapshot_load_newest(n->dir, &lcfg, &n->ledger, &snap_seq, snap_hash, err, err_len) != 0) {
        return -1;
    }
    struct replay_ctx rc = {.ledger = n->ledger};
    rc.cmds = calloc(JZ_BATCH_MAX, sizeof *rc.cmds);
    rc.results = calloc(JZ_BATCH_MAX, sizeof *rc.results);
    struct journal_config jcfg = {.dir = n->dir, .segment_bytes = n->cfg.segment_bytes,
                                  .checkpoint_every = n->cfg.checkpoint_every, .io = n->io,
                                  .sign_key = key};
    int result = -1;
    if (rc.cmds && rc.results) {
        result = journal_open(&jcfg, snap_seq + 1, snap_seq ? snap_hash : NULL, replay_one, &rc,
                              &n->journal, err, err_len);
    } else {
        snprintf(err, err_len, "out of memory");
    }
    free(rc.cmds);
    free(rc.results);
    if (result == 0) {
        n->recovery.snapshot_seq = snap_seq;
        n->recovery.replayed_records = rc.records;
        n->recovery.replayed_commands = rc.commands;
        n->recovery.head_seq = journal_head_seq(n->journal);
        n->recovery.seconds = now_seconds() - start;
    }
    return result;
}

static int node_snapshot_cb(void *ctx, const ledger *l, uint64_t seq,
                            const uint8_t hash[CRYPTO_SM3_BYTES])
{
    node *n = ctx;
    char err[512];
    if (snapshot_write(n->dir, n->io, l, seq, hash, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi: snapshot failed: %s\n", err);
        return -1;
    }
    return 0;
}

static void node_on_durable(void *ctx, uint64_t seq)
{
    node *n = ctx;
    projector_notify(n->projector, seq);
}

static int start_history(node *n, char *err, size_t err_len)
{
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/history.db", n->dir);
    if (store_open(path, &n->store, err, err_len) != 0) {
        return -1;
    }
    uint64_t head = journal_head_seq(n->journal);
    if (store_projected_seq(n->store) > head) {
        snprintf(err, err_len, "%s is ahead of the journal: run `jiaozi reindex`", path);
        return -1;
    }
    return projector_start(n->dir, n->store, head, &n->projector, err, err_len);
}

static void node_free(node *n)
{
    crypto_wipe(n->master, sizeof n->master);
    projector_stop(n->projector);
    store_close(n->store);
    journal_close(n->journal);
    ledger_free(n->ledger);
    crypto_sm2_free(n->key);
    free(n);
}

int node_open(const struct node_options *opt, node **out, char *err, size_t err_len)
{
    node *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    if (strlen(opt->dir) >= sizeof n->dir) {
        snprintf(err, err_len, "data directory path too long");
        free(n);
        return -1;
    }
    snprintf(n->dir, sizeof n->dir, "%s", opt->dir);
    n->io = opt->io ? opt->io : &io_posix;
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/node.key", n->dir);
    if (node_config_read(n->dir, &n->cfg, err, err_len) != 0) {
        goto fail;
    }
    if (master_key_load(n, err, err_len) != 0) {
        goto fail;
    }
    if (crypto_sm2_load_private(path, &n->key) != 0) {
        snprintf(err, err_len, "%s: cannot load the node key", path);
        goto fail;
    }
    if (recover(n, n->key, err, err_len) != 0) {
        goto fail;
    }
    if (opt->history && start_history(n, err, err_len) != 0) {
        goto fail;
    }
    struct executor_config ecfg = {.queue_max = opt->queue_max, .now_ms = opt->now_ms,
                                   .clock_ctx = opt->clock_ctx,
                                   .snapshot_every = n->cfg.snapshot_every,
                                   .snapshot = node_snapshot_cb, .snapshot_ctx = n,
                                   .on_durable = opt->history ? node_on_durable : NULL,
                                   .on_durable_ctx = n};
    if (executor_start(n->ledger, n->journal, &ecfg, &n->executor) != 0) {
        snprintf(err, err_len, "cannot start the executor");
        goto fail;
    }
    *out = n;
    return 0;
fail:
    node_free(n);
    return -1;
}

int node_close(node *n, bool snapshot)
{
    if (!n) {
        return 0;
    }
    int rc = 0;
    if (snapshot && !executor_failed(n->executor)) {
        rc = executor_snapshot_now(n->executor);
    }
    if (executor_stop(n->executor) != 0) {
        rc = -1;
    }
    node_free(n);
    return rc;
}

executor *node_executor(node *n)
{
    return n->executor;
}

const crypto_sm2_key *node_signing_key(const node *n)
{
    return n->key;
}

struct store *node_store(node *n)
{
    return n->store;
}

struct projector *node_projector(node *n)
{
    return n->projector;
}

const char *node_dir(const node *n)
{
    return n->dir;
}

int node_reindex(const char *dir, char *err, size_t err_len)
{
    ledger *l = NULL;
    uint64_t head = 0;
    char path[PATH_BYTES];
    char tmp[PATH_BYTES];
    if (strlen(dir) >= DIR_BYTES || node_recover_ledger(dir, &l, &head, err, err_len) != 0) {
        return -1;
    }
    ledger_free(l);
    snprintf(path, sizeof path, "%s/history.db", dir);
    snprintf(tmp, sizeof tmp, "%s/history.db.reindex", dir);
    unlink(tmp);
    store *s = NULL;
    if (store_open(tmp, &s, err, err_len) != 0) {
        return -1;
    }
    int rc = projector_catch_up(dir, s, head, err, err_len);
    store_close(s);
    if (rc == 0) {
        /* The old database's WAL must not be applied to the new file. */
        char side[PATH_BYTES + 8];
        snprintf(side, sizeof side, "%s-wal", path);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", path);
        unlink(side);
        rc = rename(tmp, path) == 0 && io_fsync_dir(&io_posix, dir) == 0 ? 0 : -1;
        if (rc != 0) {
            snprintf(err, err_len, "%s: %s", path, strerror(errno));
        }
    }
    return rc;
}

const struct node_config *node_get_config(const node *n)
{
    return &n->cfg;
}

const struct node_recovery *node_recovery_info(const node *n)
{
    return &n->recovery;
}

int node_recover_ledger(const char *dir, ledger **out, uint64_t *head_seq, char *err,
                        size_t err_len)
{
    node *n = calloc(1, sizeof *n);
    if (!n) {
        return -1;
    }
    if (strlen(dir) >= sizeof n->dir) {
        snprintf(err, err_len, "data directory path too long");
        free(n);
        return -1;
    }
    snprintf(n->dir, sizeof n->dir, "%s", dir);
    n->io = &io_posix;
    int rc = -1;
    if (node_config_read(dir, &n->cfg, err, err_len) == 0) {
        /* No key: the journal is only read here, never appended to. */
        n->cfg.checkpoint_every = 0;
        rc = recover(n, NULL, err, err_len);
    }
    if (rc == 0) {
        *out = n->ledger;
        *head_seq = journal_head_seq(n->journal);
        n->ledger = NULL;
    }
    node_free(n);
    return rc;
}
