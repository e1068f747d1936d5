/*
 * journal.c: the append-only, hash-chained journal of journal.h.
 *
 * Write path (the journal thread, single-threaded by contract): a record's 96-byte header is
 * built in a small stack buffer; its CRC32C and SM3 run over the header's bytes [8, 96) and
 * then over the caller's payload in place, so a half-megabyte batch is never copied; header
 * and payload go to the segment with two pwrites into the page cache. journal_sync is one
 * fdatasync: segments are pre-zeroed and fsync'd before use, so that fdatasync never has to
 * allocate blocks or update the file size (DESIGN.md §10: fsync into freshly allocated space
 * was 2-3x slower on the target machine).
 *
 * Rolling to a new segment needs a zero-filled file. Zeroing 64 MiB and fsyncing it takes
 * 50-250 ms, so a helper thread prepares "next.tmp" ahead of time (from each roll on, or once
 * the segment found at open is half full); the roll then only renames it into place and fsyncs
 * the directory. The helper fdatasyncs every few megabytes as it goes, so the disk never has a
 * large write queued ahead of the journal's own fdatasync (measured: one 64 MiB fsync at the
 * end stalled appends by up to 120 ms; paced, the worst append stays near 10 ms). If the
 * helper could not prepare the file (or was never started), the roll creates it itself. Either
 * way a segment only ever appears under its final name fully zeroed and fsync'd.
 *
 * Read path (journal_open and journal_verify share it): each segment is read whole and its
 * records parsed in order. A record that cannot be a complete record (bad magic, size or CRC)
 * is a torn write only at the end of the last segment, when nothing but zeros follows the
 * extent it claims and no complete record starts inside that extent (the second condition
 * keeps a damaged size field from swallowing acknowledged records behind it); a zero magic
 * followed by nonzero bytes is judged the same way, as a header that never reached the disk.
 * Everything else is damage, reported with the file and byte offset of the record.
 *
 * Header layout note: the fields journal.h lists add up to 88 bytes; the header is 96, and
 * bytes [72, 96) (the listed 16 reserved bytes and 8 more) are all reserved and must be zero.
 */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "crc32c.h"
#include "limits.h"

/* Header field offsets (journal.h). */
#define H_MAGIC 0
#define H_CRC 4
#define H_SIZE 8
#define H_TYPE 12
#define H_VERSION 14
#define H_SEQ 16
#define H_TIMESTAMP 24
#define H_COUNT 32
#define H_RESERVED 36
#define H_PREV_HASH 40
#define H_RESERVED_TAIL 72
#define HDR JOURNAL_HEADER_BYTES
/* CRC and hash cover the record from the byte after the CRC field. */
#define H_COVERED_FROM 8
#define JOURNAL_VERSION 1

_Static_assert(H_PREV_HASH + CRYPTO_SM3_BYTES == H_RESERVED_TAIL, "prev_hash ends at 72");
_Static_assert(H_RESERVED_TAIL + 24 == JOURNAL_HEADER_BYTES, "header is 96 bytes");

/* Checkpoint payload: seq u64 | hash [32] | sig_len u16 | signature. */
#define CP_FIXED (8 + CRYPTO_SM3_BYTES + 2)
#define CP_PAYLOAD_MAX (CP_FIXED + CRYPTO_SM2_SIG_MAX)
#define CP_MSG_BYTES (4 + 8 + CRYPTO_SM3_BYTES)

/* Smallest segment accepted: a few records of any kind must fit, checkpoints included. */
#define SEGMENT_BYTES_MIN 4096u
_Static_assert(HDR + CP_PAYLOAD_MAX < SEGMENT_BYTES_MIN, "a checkpoint fits any segment");

/* Zero-filling and tail repair write in chunks of this size (DESIGN.md §10). */
#define ZERO_CHUNK (1u << 20)
#ifndef PREP_PACE_BYTES
#define PREP_PACE_BYTES (4u << 20)
#endif
/* Paths: Linux's PATH_MAX (its header is shadowed by src/limits.h under -Isrc). */
#define PATH_BYTES 4096
#define SEG_DIGITS 20
#define NEXT_TMP "next.tmp"

/* Read-only zeros for pwrite; in .bss, so it costs no space in the binary. */
static uint8_t zero_chunk[ZERO_CHUNK];

/* ---- little-endian helpers: on-disk bytes are never punned into structs ---- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    /* p[0] is zero and every byte equals the one before it: lets memcmp's vector loop do
     * the scanning of what is usually tens of megabytes of zeros at open. */
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || err_len == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

static int path_join(char out[PATH_BYTES], const char *dir, const char *name)
{
    int n = snprintf(out, PATH_BYTES, "%s/%s", dir, name);
    return (n < 0 || n >= PATH_BYTES) ? -1 : 0;
}

static int seg_path(char out[PATH_BYTES], const char *jdir, uint64_t first_seq)
{
    int n = snprintf(out, PATH_BYTES, "%s/%0*" PRIu64 ".seg", jdir, SEG_DIGITS, first_seq);
    return (n < 0 || n >= PATH_BYTES) ? -1 : 0;
}

/* ---- configuration ---- */

struct config {
    const struct io_ops *io;
    char dir[PATH_BYTES];
    char jdir[PATH_BYTES];
    char tmp[PATH_BYTES];
    uint32_t segment_bytes;
    uint32_t checkpoint_every;
    const crypto_sm2_key *sign_key;
};

static int config_load(const struct journal_config *cfg, struct config *c, char *err,
                       size_t err_len)
{
    if (cfg == NULL || cfg->dir == NULL || cfg->dir[0] == '\0') {
        set_err(err, err_len, "journal: no data directory given");
        return -1;
    }
    c->io = cfg->io != NULL ? cfg->io : &io_posix;
    c->segment_bytes = cfg->segment_bytes != 0 ? cfg->segment_bytes
                                               : JZ_JOURNAL_SEGMENT_BYTES_DEFAULT;
    c->checkpoint_every = cfg->checkpoint_every;
    c->sign_key = cfg->sign_key;
    if (c->segment_bytes < SEGMENT_BYTES_MIN) {
        set_err(err, err_len, "journal: segment_bytes %" PRIu32 " is below the minimum %u",
                c->segment_bytes, SEGMENT_BYTES_MIN);
        return -1;
    }
    if (c->checkpoint_every > 0 && c->sign_key == NULL) {
        set_err(err, err_len, "journal: checkpoints need a signing key");
        return -1;
    }
    if (snprintf(c->dir, PATH_BYTES, "%s", cfg->dir) >= PATH_BYTES ||
        path_join(c->jdir, cfg->dir, "journal") != 0 ||
        path_join(c->tmp, c->jdir, NEXT_TMP) != 0) {
        set_err(err, err_len, "journal: data directory path too long");
        return -1;
    }
    return 0;
}

/* ---- segment files ---- */

/* Creates path as a file of `bytes` zeros, fsync'd, and returns it open for writing. Stops
 * early (failing) when *cancel becomes true. With pace_bytes > 0 it also fdatasyncs every
 * pace_bytes: slower in total, but the disk never has tens of megabytes queued ahead of the
 * journal's own fdatasync. */
static int file_create_zeroed(const struct io_ops *io, const char *path, uint32_t bytes,
                              uint32_t pace_bytes, const atomic_bool *cancel, int *fd_out)
{
    int saved;
    int fd = io->open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -1;
    }
    for (uint64_t off = 0; off < bytes; off += ZERO_CHUNK) {
        size_t n = bytes - off < ZERO_CHUNK ? (size_t)(bytes - off) : ZERO_CHUNK;
        if (cancel != NULL && atomic_load(cancel)) {
            errno = ECANCELED;
            goto close_fd;
        }
        if (io_pwrite_all(io, fd, zero_chunk, n, (off_t)off) != 0) {
            goto close_fd;
        }
        if (pace_bytes > 0 && (off + n) % pace_bytes == 0 && off + n < bytes &&
            io->fdatasync(fd) != 0) {
            goto close_fd;
        }
    }
    if (io->fsync(fd) != 0) {
        goto close_fd;
    }
    *fd_out = fd;
    return 0;
close_fd:
    saved = errno;
    io->close(fd);
    errno = saved;
    return -1;
}

/* Parses a segment file name: exactly 20 digits and ".seg", value >= 1. */
static int seg_name_parse(const char *name, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < SEG_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9') {
            return -1;
        }
        if (v > (UINT64_MAX - 9) / 10) {
            return -1;
        }
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    if (strcmp(name + SEG_DIGITS, ".seg") != 0 || v == 0) {
        return -1;
    }
    *out = v;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Lists the first seqs of jdir's segments in ascending order; *out is malloc'd (caller
 * frees), NULL when there are none. */
static int segments_list(const char *jdir, uint64_t **out, size_t *n_out, char *err,
                         size_t err_len)
{
    DIR *d = opendir(jdir);
    uint64_t *v = NULL;
    size_t n = 0;
    size_t cap = 0;
    struct dirent *e;
    if (d == NULL) {
        set_err(err, err_len, "%s: %s", jdir, strerror(errno));
        return -1;
    }
    for (;;) {
        uint64_t seq;
        errno = 0;
        e = readdir(d);
        if (e == NULL) {
            break;
        }
        if (seg_name_parse(e->d_name, &seq) != 0) {
            continue; /* next.tmp and anything else that is not a segment */
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            uint64_t *nv = realloc(v, ncap * sizeof *nv);
            if (nv == NULL) {
                set_err(err, err_len, "%s: out of memory", jdir);
                goto free_list;
            }
            v = nv;
            cap = ncap;
        }
        v[n++] = seq;
    }
    if (errno != 0) {
        set_err(err, err_len, "%s: %s", jdir, strerror(errno));
        goto free_list;
    }
    closedir(d);
    if (n > 0) {
        qsort(v, n, sizeof *v, cmp_u64);
    }
    *out = v;
    *n_out = n;
    return 0;
free_list:
    free(v);
    closedir(d);
    return -1;
}

/* ---- the segment preparer (helper thread) ---- */

enum prep_state { PREP_IDLE, PREP_REQUESTED, PREP_READY, PREP_FAILED };

struct prep {
    bool started;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    enum prep_state state; /* under mu */
    int fd;                /* the ready file, when state == PREP_READY */
    atomic_bool stop;
    const struct config *cfg; /* borrowed from the journal, immutable */
};

static void *prep_main(void *arg)
{
    pthread_setname_np(pthread_self(), "jz-segprep"); /* names show in top and perf */
    struct prep *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->state != PREP_REQUESTED && !atomic_load(&p->stop)) {
            pthread_cond_wait(&p->cv, &p->mu);
        }
        if (atomic_load(&p->stop)) {
            break;
        }
        pthread_mutex_unlock(&p->mu);
        int fd = -1;
        int rc = file_create_zeroed(p->cfg->io, p->cfg->tmp, p->cfg->segment_bytes,
                                    PREP_PACE_BYTES, &p->stop, &fd);
        pthread_mutex_lock(&p->mu);
        p->fd = fd;
        p->state = rc == 0 ? PREP_READY : PREP_FAILED;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Asks the helper for the next segment file, starting the thread on first use. A thread that
 * cannot be started only means rolls are synchronous. */
static void prep_request(struct prep *p)
{
    if (!p->started) {
        if (pthread_create(&p->thread, NULL, prep_main, p) != 0) {
            return;
        }
        p->started = true;
    }
    pthread_mutex_lock(&p->mu);
    if (p->state == PREP_IDLE) {
        p->state = PREP_REQUESTED;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
}

/* Takes the prepared file if there is one (waiting for work in progress). Returns true and
 * sets *fd, or false when the caller must create the file itself. */
static bool prep_take(struct prep *p, int *fd)
{
    bool ok = false;
    if (!p->started) {
        return false;
    }
    pthread_mutex_lock(&p->mu);
    while (p->state == PREP_REQUESTED) {
        pthread_cond_wait(&p->cv, &p->mu);
    }
    if (p->state == PREP_READY) {
        *fd = p->fd;
        ok = true;
    }
    p->fd = -1;
    p->state = PREP_IDLE;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static void prep_stop(struct prep *p)
{
    if (!p->started) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    if (p->state == PREP_READY) {
        p->cfg->io->close(p->fd);
    }
    p->started = false;
}

/* ---- the open journal ---- */

struct journal {
    struct config cfg;
    crypto_sm3_ctx *sm3; /* reused for every record */
    int fd;              /* current segment, open read-write */
    uint64_t seg_first_seq;
    uint64_t seg_capacity; /* bytes of the current segment file */
    uint64_t off;          /* where the next record goes */
    uint64_t head_seq;
    uint8_t head_hash[CRYPTO_SM3_BYTES];
    uint32_t batches_since_checkpoint;
    bool dirty;      /* written since the last fdatasync */
    bool prep_asked; /* the helper was asked for this segment's successor */
    bool dead;
    struct prep prep;
};

/* Puts the zeroed file for segment `seq` in place (prepared or made now): rename, then fsync
 * the directory so the name is durable before any record in it is acknowledged. */
static int segment_install(journal *j, uint64_t seq, int *fd_out)
{
    const struct io_ops *io = j->cfg.io;
    char path[PATH_BYTES];
    int fd = -1;
    if (seg_path(path, j->cfg.jdir, seq) != 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (!prep_take(&j->prep, &fd) &&
        file_create_zeroed(io, j->cfg.tmp, j->cfg.segment_bytes, 0, NULL, &fd) != 0) {
        return -1;
    }
    if (io->rename(j->cfg.tmp, path) != 0 || io_fsync_dir(io, j->cfg.jdir) != 0) {
        int saved = errno;
        io->close(fd);
        errno = saved;
        return -1;
    }
    *fd_out = fd;
    return 0;
}

/* Leaves the current segment (made durable first: journal_sync only syncs the current one)
 * for a new one whose first record is `seq`. */
static int segment_roll(journal *j, uint64_t seq)
{
    int fd;
    if (j->dirty && j->cfg.io->fdatasync(j->fd) != 0) {
        return -1;
    }
    j->dirty = false;
    if (segment_install(j, seq, &fd) != 0) {
        return -1;
    }
    j->cfg.io->close(j->fd);
    j->fd = fd;
    j->seg_first_seq = seq;
    j->seg_capacity = j->cfg.segment_bytes;
    j->off = 0;
    /* The journal is clearly writing: start on the next segment at once, which gives the
     * helper a whole segment's time (not half) to finish. */
    j->prep_asked = true;
    prep_request(&j->prep);
    return 0;
}

static void header_encode(uint8_t h[HDR], uint16_t type, uint64_t seq, int64_t timestamp_ms,
                          uint32_t count, uint32_t size, const uint8_t prev[CRYPTO_SM3_BYTES])
{
    memset(h, 0, HDR);
    put32(h + H_MAGIC, JOURNAL_MAGIC);
    put32(h + H_SIZE, size);
    put16(h + H_TYPE, type);
    put16(h + H_VERSION, JOURNAL_VERSION);
    put64(h + H_SEQ, seq);
    put64(h + H_TIMESTAMP, (uint64_t)timestamp_ms);
    put32(h + H_COUNT, count);
    memcpy(h + H_PREV_HASH, prev, CRYPTO_SM3_BYTES);
}

/* SM3 of the record's bytes [8, 96+size): the header part and the payload in place. */
static int record_hash(crypto_sm3_ctx *sm3, const uint8_t *h, const void *payload,
                       uint32_t size, uint8_t out[CRYPTO_SM3_BYTES])
{
    if (crypto_sm3_init(sm3) != 0 ||
        crypto_sm3_update(sm3, h + H_COVERED_FROM, HDR - H_COVERED_FROM) != 0 ||
        crypto_sm3_update(sm3, payload, size) != 0 || crypto_sm3_final(sm3, out) != 0) {
        return -1;
    }
    return 0;
}

/* Appends one record; any failure kills the journal (the caller checks j->dead first). */
static int record_write(journal *j, uint16_t type, int64_t timestamp_ms, uint32_t count,
                        const void *payload, uint32_t size)
{
    uint8_t h[HDR];
    uint8_t hash[CRYPTO_SM3_BYTES];
    uint64_t seq = j->head_seq + 1;
    uint32_t crc;
    ASSERT(!j->dead && HDR + (uint64_t)size <= j->cfg.segment_bytes);
    header_encode(h, type, seq, timestamp_ms, count, size, j->head_hash);
    crc = crc32c(0, h + H_COVERED_FROM, HDR - H_COVERED_FROM);
    crc = crc32c(crc, payload, size);
    put32(h + H_CRC, crc);
    if (record_hash(j->sm3, h, payload, size, hash) != 0) {
        goto die;
    }
    if (j->off + HDR + size > j->seg_capacity && segment_roll(j, seq) != 0) {
        goto die;
    }
    /* Two writes instead of one: copying half a megabyte to join header and payload costs
     * more than the second system call. */
    j->dirty = true;
    if (io_pwrite_all(j->cfg.io, j->fd, h, HDR, (off_t)j->off) != 0 ||
        io_pwrite_all(j->cfg.io, j->fd, payload, size, (off_t)(j->off + HDR)) != 0) {
        goto die;
    }
    j->off += HDR + size;
    j->head_seq = seq;
    memcpy(j->head_hash, hash, sizeof hash);
    if (!j->prep_asked && j->off >= j->seg_capacity / 2) {
        j->prep_asked = true;
        prep_request(&j->prep);
    }
    return 0;
die:
    j->dead = true;
    return -1;
}

/* Writes the checkpoint over the head record: its (seq, hash), signed. */
static int checkpoint_write(journal *j, int64_t timestamp_ms)
{
    uint8_t msg[CP_MSG_BYTES];
    uint8_t payload[CP_PAYLOAD_MAX];
    size_t sig_len = 0;
    memcpy(msg, "JZCP", 4);
    put64(msg + 4, j->head_seq);
    memcpy(msg + 12, j->head_hash, CRYPTO_SM3_BYTES);
    if (crypto_sm2_sign(j->cfg.sign_key, msg, sizeof msg, payload + CP_FIXED, &sig_len) != 0) {
        /* The batch is already in the segment; without its checkpoint the promise "one every
         * N batches" would silently break, so stop like any other failure. */
        j->dead = true;
        return -1;
    }
    ASSERT(sig_len > 0 && sig_len <= CRYPTO_SM2_SIG_MAX);
    put64(payload, j->head_seq);
    memcpy(payload + 8, j->head_hash, CRYPTO_SM3_BYTES);
    put16(payload + 8 + CRYPTO_SM3_BYTES, (uint16_t)sig_len);
    return record_write(j, JOURNAL_TYPE_CHECKPOINT, timestamp_ms, 0, payload,
                        (uint32_t)(CP_FIXED + sig_len));
}

int journal_write(journal *j, int64_t timestamp_ms, uint32_t count, const void *payload,
                  uint32_t size, uint64_t *seq_out)
{
    uint64_t seq;
    ASSERT(j != NULL);
    if (j->dead) {
        return -1;
    }
    /* Refused without effect: a record never spans segments, and the limit bounds memory. */
    if (size > JZ_JOURNAL_RECORD_MAX || size > j->cfg.segment_bytes - HDR ||
        (size > 0 && payload == NULL)) {
        return -1;
    }
    if (record_write(j, JOURNAL_TYPE_BATCH, timestamp_ms, count, payload, size) != 0) {
        return -1;
    }
    seq = j->head_seq;
    j->batches_since_checkpoint++;
    if (j->cfg.checkpoint_every > 0 && j->batches_since_checkpoint >= j->cfg.checkpoint_every) {
        if (checkpoint_write(j, timestamp_ms) != 0) {
            return -1;
        }
        j->batches_since_checkpoint = 0;
    }
    if (seq_out != NULL) {
        *seq_out = seq;
    }
    return 0;
}

int journal_sync(journal *j)
{
    ASSERT(j != NULL);
    if (j->dead) {
        return -1;
    }
    if (!j->dirty) {
        return 0;
    }
    if (j->cfg.io->fdatasync(j->fd) != 0) {
        /* No retry: after a failed fsync the kernel may have dropped the dirty pages. */
        j->dead = true;
        return -1;
    }
    j->dirty = false;
    return 0;
}

int journal_append(journal *j, int64_t timestamp_ms, uint32_t count, const void *payload,
                   uint32_t size, uint64_t *seq_out)
{
    uint64_t seq;
    if (journal_write(j, timestamp_ms, count, payload, size, &seq) != 0 ||
        journal_sync(j) != 0) {
        return -1;
    }
    if (seq_out != NULL) {
        *seq_out = seq;
    }
    return 0;
}

uint64_t journal_head_seq(const journal *j)
{
    return j->head_seq;
}

void journal_head_hash(const journal *j, uint8_t out[CRYPTO_SM3_BYTES])
{
    memcpy(out, j->head_hash, CRYPTO_SM3_BYTES);
}

int journal_is_dead(const journal *j)
{
    return j->dead ? 1 : 0;
}

void journal_close(journal *j)
{
    if (j == NULL) {
        return;
    }
    prep_stop(&j->prep);
    pthread_cond_destroy(&j->prep.cv);
    pthread_mutex_destroy(&j->prep.mu);
    if (j->fd >= 0) {
        j->cfg.io->close(j->fd);
    }
    crypto_sm3_free(j->sm3);
    free(j);
}

/* ---- creating ---- */

/* fsyncs the parent of path, so that a directory created by io_mkdir_p is durable. */
static int fsync_parent(const struct io_ops *io, const char *path)
{
    char parent[PATH_BYTES];
    char *slash;
    snprintf(parent, sizeof parent, "%s", path);
    slash = strrchr(parent, '/');
    if (slash == NULL) {
        return io_fsync_dir(io, ".");
    }
    if (slash == parent) {
        slash[1] = '\0';
    } else {
        *slash = '\0';
    }
    return io_fsync_dir(io, parent);
}

int journal_create(const struct journal_config *cfg, char *err, size_t err_len)
{
    struct config c;
    char path[PATH_BYTES];
    uint64_t *segs = NULL;
    size_t n = 0;
    int fd;
    if (config_load(cfg, &c, err, err_len) != 0) {
        return -1;
    }
    if (io_mkdir_p(c.jdir) != 0) {
        set_err(err, err_len, "%s: %s", c.jdir, strerror(errno));
        return -1;
    }
    if (segments_list(c.jdir, &segs, &n, err, err_len) != 0) {
        return -1;
    }
    free(segs);
    if (n > 0) {
        set_err(err, err_len, "%s: a journal already exists", c.jdir);
        return -1;
    }
    /* Same path as a roll: zeroed and fsync'd under a temporary name, then renamed, so a
     * crash never leaves a half-made first segment. */
    if (seg_path(path, c.jdir, 1) != 0 ||
        file_create_zeroed(c.io, c.tmp, c.segment_bytes, 0, NULL, &fd) != 0) {
        set_err(err, err_len, "%s: %s", c.tmp, strerror(errno));
        return -1;
    }
    c.io->close(fd);
    if (c.io->rename(c.tmp, path) != 0 || io_fsync_dir(c.io, c.jdir) != 0 ||
        io_fsync_dir(c.io, c.dir) != 0 || fsync_parent(c.io, c.dir) != 0) {
        set_err(err, err_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- reading: shared by journal_open and journal_verify ---- */

enum rec_status {
    REC_OK,      /* a complete, well-formed record */
    REC_END,     /* zero magic: no record here */
    REC_TORN,    /* not a complete record (magic, size or CRC): maybe a torn write */
    REC_INVALID, /* complete (its CRC holds) but malformed: always damage */
};

struct rec_view {
    const uint8_t *h;
    const uint8_t *payload;
    uint32_t size;
    uint16_t type;
    uint64_t seq;
    int64_t timestamp_ms;
    uint32_t count;
};

/* Fields of a record whose CRC holds; *why says what is wrong otherwise. */
static enum rec_status rec_check_fields(const struct rec_view *r, const char **why)
{
    if (get16(r->h + H_VERSION) != JOURNAL_VERSION) {
        *why = "unknown version";
        return REC_INVALID;
    }
    if (get32(r->h + H_RESERVED) != 0 || !all_zero(r->h + H_RESERVED_TAIL, HDR - H_RESERVED_TAIL)) {
        *why = "nonzero reserved bytes";
        return REC_INVALID;
    }
    if (r->type == JOURNAL_TYPE_BATCH) {
        return REC_OK;
    }
    if (r->type != JOURNAL_TYPE_CHECKPOINT) {
        *why = "unknown record type";
        return REC_INVALID;
    }
    if (r->count != 0 || r->size < CP_FIXED ||
        r->size != CP_FIXED + (uint32_t)get16(r->payload + 8 + CRYPTO_SM3_BYTES) ||
        r->size > CP_PAYLOAD_MAX) {
        *why = "malformed checkpoint";
        return REC_INVALID;
    }
    return REC_OK;
}

/* Parses the record at p, with avail bytes to the end of its segment. */
static enum rec_status rec_parse(const uint8_t *p, size_t avail, struct rec_view *r,
                                 const char **why)
{
    uint32_t size;
    uint32_t crc;
    if (avail < 4 || get32(p + H_MAGIC) == 0) {
        *why = "nonzero bytes after the end of the records";
        return all_zero(p, avail < 4 ? avail : 4) ? REC_END : REC_TORN;
    }
    if (avail < HDR || get32(p + H_MAGIC) != JOURNAL_MAGIC) {
        *why = avail < HDR ? "truncated header" : "bad magic";
        return REC_TORN;
    }
    size = get32(p + H_SIZE);
    if (size > JZ_JOURNAL_RECORD_MAX || size > avail - HDR) {
        *why = "bad size";
        return REC_TORN;
    }
    crc = crc32c(0, p + H_COVERED_FROM, HDR - H_COVERED_FROM + (size_t)size);
    if (crc != get32(p + H_CRC)) {
        *why = "bad crc";
        return REC_TORN;
    }
    r->h = p;
    r->payload = p + HDR;
    r->size = size;
    r->type = get16(p + H_TYPE);
    r->seq = get64(p + H_SEQ);
    r->timestamp_ms = (int64_t)get64(p + H_TIMESTAMP);
    r->count = get32(p + H_COUNT);
    return rec_check_fields(r, why);
}

/* Whether the bad record at off (in a segment of len bytes) is a torn write: nothing but
 * zeros after the extent it claims (the longest possible one if its header is unreadable),
 * and no complete record starting inside that extent. */
static bool tail_is_torn(const uint8_t *buf, size_t off, size_t len)
{
    size_t avail = len - off;
    size_t end = off + (avail < HDR + (size_t)JZ_JOURNAL_RECORD_MAX
                            ? avail
                            : HDR + (size_t)JZ_JOURNAL_RECORD_MAX);
    const uint8_t magic[4] = {0x4a, 0x5a, 0x4a, 0x31};
    if (avail >= HDR && get32(buf + off + H_MAGIC) == JOURNAL_MAGIC) {
        uint32_t size = get32(buf + off + H_SIZE);
        if (size <= JZ_JOURNAL_RECORD_MAX && size <= avail - HDR) {
            end = off + HDR + size;
        }
    }
    if (!all_zero(buf + end, len - end)) {
        return false;
    }
    for (size_t q = off + 1; q + HDR <= end;) {
        const uint8_t *hit = memmem(buf + q, end - q, magic, sizeof magic);
        struct rec_view r;
        const char *why;
        if (hit == NULL) {
            break;
        }
        q = (size_t)(hit - buf);
        enum rec_status st = rec_parse(buf + q, len - q, &r, &why);
        if (st == REC_OK || st == REC_INVALID) {
            return false;
        }
        q++;
    }
    return true;
}

struct scan {
    const struct io_ops *io;
    const char *jdir;
    char *err;
    size_t err_len;
    bool verify;                /* audit: read-only, torn tail is a fault, signatures checked */
    const crypto_sm2_key *pub;  /* verify: checkpoint signatures */
    uint64_t from_seq;          /* chain checked and batches replayed from here */
    uint8_t from_prev_hash[CRYPTO_SM3_BYTES];
    journal_replay_fn replay;
    void *ctx;
    crypto_sm3_ctx *sm3;
    uint8_t *buf;
    size_t buf_cap;
    char path[PATH_BYTES]; /* the segment being read */
    /* Running state. */
    uint64_t next_seq;
    uint8_t hash[CRYPTO_SM3_BYTES]; /* hash of record next_seq-1, once hashing has begun */
    uint32_t batches_since_checkpoint;
    struct journal_verify_report rep;
    /* journal_open: the last segment, left open for appending. */
    int last_fd;
    uint64_t last_len;
    uint64_t last_end;
};

static int scan_fail(struct scan *s, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int scan_fail(struct scan *s, uint64_t off, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_err(s->err, s->err_len, "%s: offset %" PRIu64 ": %s", s->path, off, msg);
    return -1;
}

/* A checkpoint must cover the record before it (whose hash is the checkpoint's prev_hash,
 * already checked against the chain) and, in an audit, carry a valid signature. */
static int scan_checkpoint(struct scan *s, const struct rec_view *r, uint64_t off)
{
    const uint8_t *p = r->payload;
    uint64_t cp_seq = get64(p);
    uint8_t msg[CP_MSG_BYTES];
    if (cp_seq == 0 || cp_seq != r->seq - 1 ||
        memcmp(p + 8, r->h + H_PREV_HASH, CRYPTO_SM3_BYTES) != 0) {
        return scan_fail(s, off, "checkpoint %" PRIu64 " does not cover the record before it",
                         r->seq);
    }
    if (s->verify) {
        if (s->pub == NULL) {
            return scan_fail(s, off, "checkpoint found but no public key to verify it");
        }
        memcpy(msg, "JZCP", 4);
        memcpy(msg + 4, p, 8 + CRYPTO_SM3_BYTES);
        if (crypto_sm2_verify(s->pub, msg, sizeof msg, p + CP_FIXED, r->size - CP_FIXED) != 0) {
            return scan_fail(s, off, "bad checkpoint signature");
        }
    }
    s->rep.checkpoints++;
    s->rep.last_checkpoint_seq = cp_seq;
    return 0;
}

/* Chain and snapshot checks, then replay: for records that are hashed. */
static int scan_chained(struct scan *s, const struct rec_view *r, uint64_t off)
{
    uint8_t h[CRYPTO_SM3_BYTES];
    bool chained = s->verify || r->seq >= s->from_seq;
    if (chained && memcmp(r->h + H_PREV_HASH, s->hash, CRYPTO_SM3_BYTES) != 0) {
        return scan_fail(s, off, "broken hash chain: prev_hash of record %" PRIu64
                                 " does not match the record before it", r->seq);
    }
    if (chained && r->type == JOURNAL_TYPE_CHECKPOINT && scan_checkpoint(s, r, off) != 0) {
        return -1;
    }
    if (record_hash(s->sm3, r->h, r->payload, r->size, h) != 0) {
        return scan_fail(s, off, "sm3 failed");
    }
    if (!chained && memcmp(h, s->from_prev_hash, CRYPTO_SM3_BYTES) != 0) {
        return scan_fail(s, off, "hash of record %" PRIu64 " does not match the snapshot's",
                         r->seq);
    }
    memcpy(s->hash, h, sizeof h);
    if (!s->verify && chained && r->type == JOURNAL_TYPE_BATCH && s->replay != NULL) {
        struct journal_record rec = {.type = r->type, .seq = r->seq,
                                     .timestamp_ms = r->timestamp_ms, .count = r->count,
                                     .payload = r->payload, .size = r->size};
        int rc = s->replay(s->ctx, &rec);
        if (rc != 0) {
            return scan_fail(s, off, "replay of record %" PRIu64 " failed (%d)", r->seq, rc);
        }
    }
    return 0;
}

/* Takes in one well-formed record. Before from_seq-1 only CRC (already checked) and seq
 * continuity matter: those records are covered by the snapshot. */
static int scan_record(struct scan *s, const struct rec_view *r, uint64_t off)
{
    if (r->seq != s->next_seq) {
        return scan_fail(s, off, "seq %" PRIu64 " where %" PRIu64 " was expected", r->seq,
                         s->next_seq);
    }
    if ((s->verify || r->seq + 1 >= s->from_seq) && scan_chained(s, r, off) != 0) {
        return -1;
    }
    s->next_seq++;
    s->rep.records++;
    s->rep.head_seq = r->seq;
    s->rep.head_timestamp_ms = r->timestamp_ms;
    if (r->type == JOURNAL_TYPE_BATCH) {
        s->rep.batches++;
        s->rep.commands += r->count;
        s->batches_since_checkpoint++;
    } else {
        s->batches_since_checkpoint = 0;
    }
    return 0;
}

/* Zeroes a torn tail [off, last nonzero byte] and makes that durable, so that a later append
 * behind a shorter record cannot leave stale bytes that look like damage. */
static int scan_repair_tail(struct scan *s, int fd, uint64_t off, uint64_t len)
{
    uint64_t end = len;
    while (end > off && s->buf[end - 1] == 0) {
        end--;
    }
    for (uint64_t p = off; p < end; p += ZERO_CHUNK) {
        size_t n = end - p < ZERO_CHUNK ? (size_t)(end - p) : ZERO_CHUNK;
        if (io_pwrite_all(s->io, fd, zero_chunk, n, (off_t)p) != 0) {
            return scan_fail(s, off, "zeroing torn tail: %s", strerror(errno));
        }
    }
    if (s->io->fdatasync(fd) != 0) {
        return scan_fail(s, off, "zeroing torn tail: %s", strerror(errno));
    }
    return 0;
}

/* Parses the records of one segment read into s->buf; *end_out = end of its records. */
static int scan_records(struct scan *s, int fd, uint64_t len, bool is_last, uint64_t *end_out)
{
    uint64_t off = 0;
    for (;;) {
        struct rec_view r;
        const char *why = "";
        enum rec_status st = rec_parse(s->buf + off, len - off, &r, &why);
        if (st == REC_OK) {
            if (scan_record(s, &r, off) != 0) {
                return -1;
            }
            off += HDR + r.size;
            continue;
        }
        if (st == REC_END && all_zero(s->buf + off, len - off)) {
            break;
        }
        if (st == REC_INVALID || !is_last || !tail_is_torn(s->buf, off, len)) {
            return scan_fail(s, off, "%s", why);
        }
        if (s->verify) {
            return scan_fail(s, off, "torn record at end (%s)", why);
        }
        if (scan_repair_tail(s, fd, off, len) != 0) {
            return -1;
        }
        break;
    }
    *end_out = off;
    return 0;
}

/* Reads the whole segment file into s->buf; *len_out = its size. */
static int scan_read(struct scan *s, int fd, uint64_t *len_out)
{
    struct stat st;
    size_t got = 0;
    if (fstat(fd, &st) != 0) {
        return scan_fail(s, 0, "%s", strerror(errno));
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > UINT32_MAX) {
        return scan_fail(s, 0, "segment file of %lld bytes is too large", (long long)st.st_size);
    }
    if ((size_t)st.st_size > s->buf_cap) {
        uint8_t *nb = realloc(s->buf, (size_t)st.st_size);
        if (nb == NULL) {
            return scan_fail(s, 0, "out of memory");
        }
        s->buf = nb;
        s->buf_cap = (size_t)st.st_size;
    }
    if (io_pread_full(s->io, fd, s->buf, (size_t)st.st_size, 0, &got) != 0) {
        return scan_fail(s, 0, "%s", strerror(errno));
    }
    if (got != (size_t)st.st_size) {
        return scan_fail(s, got, "file shrank while being read");
    }
    *len_out = (uint64_t)st.st_size;
    return 0;
}

static int scan_segment(struct scan *s, uint64_t first_seq, bool is_last)
{
    bool keep = is_last && !s->verify;
    uint64_t len = 0;
    uint64_t end = 0;
    int fd;
    if (seg_path(s->path, s->jdir, first_seq) != 0) {
        set_err(s->err, s->err_len, "%s: path too long", s->jdir);
        return -1;
    }
    if (first_seq != s->next_seq) {
        return scan_fail(s, 0, "segment starts at seq %" PRIu64 " where %" PRIu64
                               " was expected", first_seq, s->next_seq);
    }
    fd = s->io->open(s->path, (keep ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
    if (fd < 0) {
        return scan_fail(s, 0, "%s", strerror(errno));
    }
    if (scan_read(s, fd, &len) != 0 || scan_records(s, fd, len, is_last, &end) != 0) {
        s->io->close(fd);
        return -1;
    }
    if (keep) {
        s->last_fd = fd;
        s->last_len = len;
        s->last_end = end;
    } else {
        s->io->close(fd);
    }
    return 0;
}

/* Reads segments[k..n) in order. */
static int scan_segments(struct scan *s, const uint64_t *segs, size_t k, size_t n)
{
    s->next_seq = segs[k];
    for (size_t i = k; i < n; i++) {
        if (scan_segment(s, segs[i], i + 1 == n) != 0) {
            if (s->last_fd >= 0) {
                s->io->close(s->last_fd);
                s->last_fd = -1;
            }
            return -1;
        }
    }
    return 0;
}

/* Lists the segments of jdir and checks that they start at seq 1. */
static int scan_list(struct scan *s, uint64_t **segs, size_t *n)
{
    if (segments_list(s->jdir, segs, n, s->err, s->err_len) != 0) {
        return -1;
    }
    if (*n == 0) {
        set_err(s->err, s->err_len, "%s: no journal segments", s->jdir);
        return -1;
    }
    if ((*segs)[0] != 1) {
        set_err(s->err, s->err_len, "%s: first segment starts at seq %" PRIu64 ", not 1",
                s->jdir, (*segs)[0]);
        free(*segs);
        return -1;
    }
    return 0;
}

/* ---- opening ---- */

static journal *journal_alloc(const struct config *c, struct scan *s, uint64_t last_seg_seq)
{
    journal *j = calloc(1, sizeof *j);
    if (j == NULL) {
        return NULL;
    }
    j->cfg = *c;
    j->sm3 = s->sm3;
    j->fd = s->last_fd;
    j->seg_first_seq = last_seg_seq;
    j->seg_capacity = s->last_len;
    j->off = s->last_end;
    j->head_seq = s->next_seq - 1;
    if (j->head_seq > 0) {
        memcpy(j->head_hash, s->hash, CRYPTO_SM3_BYTES);
    }
    j->batches_since_checkpoint = s->batches_since_checkpoint;
    j->prep.cfg = &j->cfg;
    j->prep.fd = -1;
    j->prep.state = PREP_IDLE;
    atomic_init(&j->prep.stop, false);
    if (pthread_mutex_init(&j->prep.mu, NULL) != 0) {
        free(j);
        return NULL;
    }
    if (pthread_cond_init(&j->prep.cv, NULL) != 0) {
        pthread_mutex_destroy(&j->prep.mu);
        free(j);
        return NULL;
    }
    return j;
}

/* After the scan: the snapshot must not be ahead of the journal, and an empty journal has
 * nothing a snapshot could have covered. */
static int open_check_head(struct scan *s, const char *jdir)
{
    static const uint8_t zeros[CRYPTO_SM3_BYTES];
    uint64_t head = s->next_seq - 1;
    if (s->from_seq > head + 1) {
        set_err(s->err, s->err_len,
                "%s: snapshot covers up to seq %" PRIu64 " but the journal ends at %" PRIu64,
                jdir, s->from_seq - 1, head);
        return -1;
    }
    if (head == 0 && memcmp(s->from_prev_hash, zeros, sizeof zeros) != 0) {
        set_err(s->err, s->err_len, "%s: journal is empty but a previous hash was given",
                jdir);
        return -1;
    }
    return 0;
}

int journal_open(const struct journal_config *cfg, uint64_t from_seq,
                 const uint8_t from_prev_hash[CRYPTO_SM3_BYTES], journal_replay_fn replay,
                 void *ctx, journal **out, char *err, size_t err_len)
{
    struct config c;
    struct scan s;
    uint64_t *segs = NULL;
    size_t n = 0;
    size_t k = 0;
    journal *j;
    if (config_load(cfg, &c, err, err_len) != 0) {
        return -1;
    }
    if (from_seq == 0) {
        set_err(err, err_len, "journal: from_seq must be at least 1");
        return -1;
    }
    s = (struct scan){.io = c.io, .jdir = c.jdir, .err = err, .err_len = err_len,
                      .from_seq = from_seq, .replay = replay, .ctx = ctx, .last_fd = -1};
    if (from_prev_hash != NULL) {
        memcpy(s.from_prev_hash, from_prev_hash, CRYPTO_SM3_BYTES);
    }
    memcpy(s.hash, s.from_prev_hash, CRYPTO_SM3_BYTES);
    s.sm3 = crypto_sm3_new();
    if (s.sm3 == NULL) {
        set_err(err, err_len, "journal: sm3 unavailable");
        return -1;
    }
    if (scan_list(&s, &segs, &n) != 0) {
        goto free_sm3;
    }
    /* Segments whose successor starts at or before from_seq-1 hold nothing from_seq-1 on:
     * their records are covered by the snapshot and need not even be read. */
    while (k + 1 < n && segs[k + 1] < from_seq) {
        k++;
    }
    if (scan_segments(&s, segs, k, n) != 0) {
        goto free_segs;
    }
    if (open_check_head(&s, c.jdir) != 0) {
        goto close_last;
    }
    j = journal_alloc(&c, &s, segs[n - 1]);
    if (j == NULL) {
        set_err(err, err_len, "journal: out of memory");
        goto close_last;
    }
    free(segs);
    free(s.buf);
    *out = j;
    return 0;
close_last:
    c.io->close(s.last_fd);
free_segs:
    free(segs);
    free(s.buf);
free_sm3:
    crypto_sm3_free(s.sm3);
    return -1;
}

/* ---- auditing ---- */

int journal_verify(const char *dir, const crypto_sm2_key *pub,
                   struct journal_verify_report *report, char *err, size_t err_len)
{
    char jdir[PATH_BYTES];
    struct scan s;
    uint64_t *segs = NULL;
    size_t n = 0;
    int rc = -1;
    if (dir == NULL || path_join(jdir, dir, "journal") != 0) {
        set_err(err, err_len, "journal: bad data directory");
        return -1;
    }
    s = (struct scan){.io = &io_posix, .jdir = jdir, .err = err, .err_len = err_len,
                      .verify = true, .pub = pub, .from_seq = 1, .last_fd = -1};
    s.sm3 = crypto_sm3_new();
    if (s.sm3 == NULL) {
        set_err(err, err_len, "journal: sm3 unavailable");
        return -1;
    }
    if (scan_list(&s, &segs, &n) != 0) {
        goto free_sm3;
    }
    rc = scan_segments(&s, segs, 0, n);
    memcpy(s.rep.head_hash, s.hash, CRYPTO_SM3_BYTES);
    /* The report is filled on failure too: it says how far the audit got. */
    if (report != NULL) {
        *report = s.rep;
    }
    free(segs);
    free(s.buf);
free_sm3:
    crypto_sm3_free(s.sm3);
    return rc;
}

/* ---- tailing reader ---- */

struct journal_reader {
    char jdir[PATH_BYTES];
    char path[PATH_BYTES];
    int fd;
    uint64_t off;      /* offset of the next record in the open segment */
    uint64_t next_seq; /* seq of the next record to return */
    uint8_t *buf;
    size_t buf_cap;
};

static int reader_open_segment(journal_reader *r, uint64_t first_seq, char *err, size_t err_len)
{
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
    if (seg_path(r->path, r->jdir, first_seq) != 0) {
        set_err(err, err_len, "%s: path too long", r->jdir);
        return -1;
    }
    r->fd = open(r->path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        set_err(err, err_len, "%s: %s", r->path, strerror(errno));
        return -1;
    }
    r->off = 0;
    return 0;
}

/* Reads the record at r->off into r->buf; returns 1 with *v filled, 0 at the end of the
 * segment's records, -1 on damage. */
static int reader_read_at(journal_reader *r, struct rec_view *v, char *err, size_t err_len)
{
    size_t got = 0;
    const char *why = "";
    if (io_pread_full(&io_posix, r->fd, r->buf, HDR, (off_t)r->off, &got) != 0) {
        set_err(err, err_len, "%s: %s", r->path, strerror(errno));
        return -1;
    }
    if (got < 4 || get32(r->buf + H_MAGIC) == 0) {
        return 0;
    }
    uint32_t size = got == HDR ? get32(r->buf + H_SIZE) : 0;
    if (got < HDR || size > JZ_JOURNAL_RECORD_MAX) {
        set_err(err, err_len, "%s: offset %" PRIu64 ": bad header", r->path, r->off);
        return -1;
    }
    if (HDR + (size_t)size > r->buf_cap) {
        uint8_t *nb = realloc(r->buf, HDR + (size_t)size);
        if (nb == NULL) {
            set_err(err, err_len, "journal reader: out of memory");
            return -1;
        }
        r->buf = nb;
        r->buf_cap = HDR + (size_t)size;
    }
    if (io_pread_full(&io_posix, r->fd, r->buf + HDR, size, (off_t)(r->off + HDR), &got) != 0 ||
        got != size || rec_parse(r->buf, HDR + (size_t)size, v, &why) != REC_OK) {
        set_err(err, err_len, "%s: offset %" PRIu64 ": %s", r->path, r->off,
                why[0] ? why : "short read");
        return -1;
    }
    return 1;
}

int journal_reader_open(const char *dir, uint64_t from_seq, journal_reader **out, char *err,
                        size_t err_len)
{
    journal_reader *r = calloc(1, sizeof *r);
    uint64_t *segs = NULL;
    size_t n = 0;
    if (r == NULL || from_seq == 0 || path_join(r->jdir, dir, "journal") != 0) {
        set_err(err, err_len, "journal reader: bad arguments");
        free(r);
        return -1;
    }
    r->fd = -1;
    r->buf_cap = HDR + (1u << 20);
    r->buf = malloc(r->buf_cap);
    if (r->buf == NULL || segments_list(r->jdir, &segs, &n, err, err_len) != 0 || n == 0) {
        if (n == 0 && r->buf != NULL) {
            set_err(err, err_len, "%s: no journal segments", r->jdir);
        }
        free(segs);
        journal_reader_close(r);
        return -1;
    }
    size_t k = 0;
    while (k + 1 < n && segs[k + 1] <= from_seq) {
        k++;
    }
    r->next_seq = segs[k];
    free(segs);
    if (reader_open_segment(r, r->next_seq, err, err_len) != 0) {
        journal_reader_close(r);
        return -1;
    }
    /* Skip forward to from_seq by headers and sizes (those records are not returned). */
    struct journal_record rec;
    while (r->next_seq < from_seq) {
        int rc = journal_reader_next(r, from_seq - 1, &rec, err, err_len);
        if (rc <= 0) {
            if (rc == 0) {
                set_err(err, err_len, "%s: journal ends before seq %" PRIu64, r->jdir, from_seq);
            }
            journal_reader_close(r);
            return -1;
        }
    }
    *out = r;
    return 0;
}

int journal_reader_next(journal_reader *r, uint64_t durable_seq, struct journal_record *rec,
                        char *err, size_t err_len)
{
    if (r->next_seq > durable_seq) {
        return 0;
    }
    struct rec_view v;
    int rc = reader_read_at(r, &v, err, err_len);
    if (rc == 0) {
        /* End of this segment's records: the record must start the next segment. */
        if (reader_open_segment(r, r->next_seq, err, err_len) != 0) {
            return -1;
        }
        rc = reader_read_at(r, &v, err, err_len);
        if (rc == 0) {
            set_err(err, err_len, "%s: record %" PRIu64 " missing", r->path, r->next_seq);
            return -1;
        }
    }
    if (rc < 0) {
        return -1;
    }
    if (v.seq != r->next_seq) {
        set_err(err, err_len, "%s: offset %" PRIu64 ": seq %" PRIu64 " where %" PRIu64
                " was expected", r->path, r->off, v.seq, r->next_seq);
        return -1;
    }
    r->off += HDR + v.size;
    r->next_seq++;
    *rec = (struct journal_record){.type = v.type, .seq = v.seq, .timestamp_ms = v.timestamp_ms,
                                   .count = v.count, .payload = v.payload, .size = v.size};
    return 1;
}

void journal_reader_close(journal_reader *r)
{
    if (r == NULL) {
        return;
    }
    if (r->fd >= 0) {
        close(r->fd);
    }
    free(r->buf);
    free(r);
}

uint64_t journal_reader_position(const journal_reader *r)
{
    return r->next_seq;
}
