/*
 * snapshot.c: writing and loading ledger snapshots (see snapshot.h).
 */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>

#include "command.h"
#include "crc32c.h"

#define SNAPSHOT_MAGIC 0x4e535a4au /* "JZSN" */
#define SNAPSHOT_VERSION 1
#define SNAPSHOT_HEADER_BYTES 64
#define PATH_BYTES 4096

struct writer {
    const struct io_ops *io;
    int fd;
    off_t off;
    uint32_t crc;
};

static int writer_emit(void *ctx, const void *data, size_t len)
{
    struct writer *w = ctx;
    if (io_pwrite_all(w->io, w->fd, data, len, w->off) != 0) {
        return -1;
    }
    w->crc = crc32c(w->crc, data, len);
    w->off += (off_t)len;
    return 0;
}

static void header_encode(uint8_t *h, uint64_t seq, uint64_t state_bytes, uint32_t state_crc,
                          const uint8_t hash[CRYPTO_SM3_BYTES])
{
    memset(h, 0, SNAPSHOT_HEADER_BYTES);
    put_u32(h, SNAPSHOT_MAGIC);
    put_u32(h + 4, SNAPSHOT_VERSION);
    put_u64(h + 8, seq);
    put_u64(h + 16, state_bytes);
    put_u32(h + 24, state_crc);
    memcpy(h + 32, hash, CRYPTO_SM3_BYTES);
    put_u32(h + 28, crc32c(0, h, SNAPSHOT_HEADER_BYTES));
}

static void snapshot_path(char *out, const char *dir, uint64_t seq, const char *suffix)
{
    snprintf(out, PATH_BYTES, "%s/snapshots/%020" PRIu64 ".snap%s", dir, seq, suffix);
}

/* Names of the snapshots in dir/snapshots, newest first; returns the count (at most max). */
static int list_snapshots(const char *dir, uint64_t *seqs, int max)
{
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/snapshots", dir);
    DIR *d = opendir(path);
    if (!d) {
        return errno == ENOENT ? 0 : -1;
    }
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < max) {
        char *end = NULL;
        uint64_t seq = strtoull(de->d_name, &end, 10);
        if (strlen(de->d_name) == 25 && end == de->d_name + 20 && strcmp(end, ".snap") == 0) {
            seqs[n++] = seq;
        }
    }
    closedir(d);
    for (int i = 1; i < n; i++) { /* insertion sort, descending */
        for (int k = i; k > 0 && seqs[k] > seqs[k - 1]; k--) {
            uint64_t t = seqs[k];
            seqs[k] = seqs[k - 1];
            seqs[k - 1] = t;
        }
    }
    return n;
}

static void remove_old(const char *dir, const struct io_ops *io)
{
    uint64_t seqs[256];
    int n = list_snapshots(dir, seqs, 256);
    for (int i = SNAPSHOT_KEEP; i < n; i++) {
        char path[PATH_BYTES];
        snapshot_path(path, dir, seqs[i], "");
        io->unlink(path);
    }
}

int snapshot_write(const char *dir, const struct io_ops *io, const ledger *l, uint64_t seq,
                   const uint8_t hash[CRYPTO_SM3_BYTES], char *err, size_t err_len)
{
    char tmp[PATH_BYTES];
    char final[PATH_BYTES];
    char sdir[PATH_BYTES];
    snprintf(sdir, sizeof sdir, "%s/snapshots", dir);
    snapshot_path(tmp, dir, seq, ".tmp");
    snapshot_path(final, dir, seq, "");
    if (io_mkdir_p(sdir) != 0) {
        snprintf(err, err_len, "%s: %s", sdir, strerror(errno));
        return -1;
    }
    struct writer w = {.io = io, .fd = io->open(tmp, O_CREAT | O_TRUNC | O_WRONLY, 0600),
                       .off = SNAPSHOT_HEADER_BYTES};
    if (w.fd < 0) {
        snprintf(err, err_len, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    uint8_t header[SNAPSHOT_HEADER_BYTES];
    if (ledger_serialize(l, writer_emit, &w) != 0) {
        goto fail_close;
    }
    header_encode(header, seq, (uint64_t)w.off - SNAPSHOT_HEADER_BYTES, w.crc, hash);
    if (io_pwrite_all(io, w.fd, header, sizeof header, 0) != 0 || io->fsync(w.fd) != 0) {
        goto fail_close;
    }
    io->close(w.fd);
    if (io->rename(tmp, final) != 0 || io_fsync_dir(io, sdir) != 0) {
        snprintf(err, err_len, "%s: %s", final, strerror(errno));
        io->unlink(tmp);
        return -1;
    }
    remove_old(dir, io);
    return 0;
fail_close:
    snprintf(err, err_len, "%s: %s", tmp, strerror(errno));
    io->close(w.fd);
    io->unlink(tmp);
    return -1;
}

struct reader {
    int fd;
    off_t off;
    uint64_t left;
    uint32_t crc;
};

static int reader_read(void *ctx, void *data, size_t len)
{
    struct reader *r = ctx;
    size_t got = 0;
    if (len > r->left || io_pread_full(&io_posix, r->fd, data, len, r->off, &got) != 0 ||
        got != len) {
        return -1;
    }
    r->crc = crc32c(r->crc, data, len);
    r->off += (off_t)len;
    r->left -= len;
    return 0;
}

/* Loads one snapshot file into a fresh ledger; returns it or NULL with err set. */
static ledger *load_one(const char *path, const struct ledger_config *cfg, uint64_t want_seq,
                        uint8_t hash[CRYPTO_SM3_BYTES], char *err, size_t err_len)
{
    uint8_t h[SNAPSHOT_HEADER_BYTES];
    size_t got = 0;
    ledger *l = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || io_pread_full(&io_posix, fd, h, sizeof h, 0, &got) != 0 || got != sizeof h) {
        snprintf(err, err_len, "%s: cannot read header", path);
        goto done;
    }
    uint32_t header_crc = get_u32(h + 28);
    put_u32(h + 28, 0);
    if (get_u32(h) != SNAPSHOT_MAGIC || get_u32(h + 4) != SNAPSHOT_VERSION ||
        crc32c(0, h, sizeof h) != header_crc || get_u64(h + 8) != want_seq) {
        snprintf(err, err_len, "%s: bad header", path);
        goto done;
    }
    struct reader r = {.fd = fd, .off = SNAPSHOT_HEADER_BYTES, .left = get_u64(h + 16)};
    l = ledger_new(cfg);
    if (!l) {
        snprintf(err, err_len, "%s: cannot allocate the ledger", path);
        goto done;
    }
    if (ledger_deserialize(l, reader_read, &r) != 0 || r.left != 0 || r.crc != get_u32(h + 24)) {
        snprintf(err, err_len, "%s: state does not verify", path);
        ledger_free(l);
        l = NULL;
        goto done;
    }
    memcpy(hash, h + 32, CRYPTO_SM3_BYTES);
done:
    if (fd >= 0) {
        close(fd);
    }
    return l;
}

int snapshot_load_newest(const char *dir, const struct ledger_config *cfg, ledger **out,
                         uint64_t *seq, uint8_t hash[CRYPTO_SM3_BYTES], char *err,
                         size_t err_len)
{
    uint64_t seqs[256];
    int n = list_snapshots(dir, seqs, 256);
    if (n < 0) {
        snprintf(err, err_len, "%s/snapshots: %s", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char path[PATH_BYTES];
        snapshot_path(path, dir, seqs[i], "");
        ledger *l = load_one(path, cfg, seqs[i], hash, err, err_len);
        if (l) {
            *out = l;
            *seq = seqs[i];
            return 0;
        }
        fprintf(stderr, "jiaozi: skipping snapshot: %s\n", err);
    }
    ledger *l = ledger_new(cfg);
    if (!l) {
        snprintf(err, err_len, "cannot allocate the ledger");
        return -1;
    }
    memset(hash, 0, CRYPTO_SM3_BYTES);
    *out = l;
    *seq = 0;
    return 0;
}

static int hash_emit(void *ctx, const void *data, size_t len)
{
    return crypto_sm3_update(ctx, data, len);
}

int snapshot_state_hash(const ledger *l, uint8_t out[CRYPTO_SM3_BYTES])
{
    crypto_sm3_ctx *ctx = crypto_sm3_new();
    if (!ctx) {
        return -1;
    }
    int rc = crypto_sm3_init(ctx);
    if (rc == 0) {
        rc = ledger_serialize(l, hash_emit, ctx);
    }
    if (rc == 0) {
        rc = crypto_sm3_final(ctx, out);
    }
    crypto_sm3_free(ctx);
    return rc;
}
