/*
 * test_journal.c: the journal's contract (journal.h): round trips, segments and from_seq,
 * torn tails at every byte, corruption anywhere, checkpoints, and fault injection through
 * io_faulty (nothing acknowledged is ever lost; a failed journal stays dead).
 *
 * The on-disk format is also re-read here independently of journal.c (parse_journal), so a
 * test that flips a byte knows exactly which record and offset it hit.
 */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "crc32c.h"
#include "crypto.h"
#include "io.h"
#include "journal.h"
#include "limits.h"

#define ERR_LEN 512

/* ---- helpers: random numbers, paths, files ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_fill(uint64_t *s, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)rng_next(s);
    }
}

/* dir under the test's temporary directory; the string lives until the next call with the
 * same slot. */
static const char *test_dir(const char *name)
{
    static char buf[4][512];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, 512, "%s/%s", test_tmpdir(), name);
    return p;
}

static void seg_file(char *out, size_t n, const char *dir, uint64_t seq)
{
    snprintf(out, n, "%s/journal/%020" PRIu64 ".seg", dir, seq);
}

static uint8_t *file_read(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    uint8_t *buf;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf != NULL && pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
        free(buf);
        buf = NULL;
    }
    close(fd);
    *len = (size_t)st.st_size;
    return buf;
}

static int file_pwrite(const char *path, const void *buf, size_t len, off_t off)
{
    int fd = open(path, O_WRONLY);
    ssize_t n;
    if (fd < 0) {
        return -1;
    }
    n = pwrite(fd, buf, len, off);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

static void file_flip(const char *path, size_t off, uint8_t mask)
{
    size_t len;
    uint8_t *buf = file_read(path, &len);
    if (buf != NULL && off < len) {
        buf[off] ^= mask;
        file_pwrite(path, buf + off, 1, (off_t)off);
    }
    free(buf);
}

/* ---- an independent reader of the on-disk format ---- */

struct rec_info {
    char file[512];
    uint64_t first_seq; /* of the segment */
    size_t off;
    uint32_t size;
    uint16_t type;
    uint64_t seq;
    uint8_t hash[CRYPTO_SM3_BYTES];
};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static size_t list_segments(const char *dir, uint64_t *segs, size_t max)
{
    char jdir[600];
    size_t n = 0;
    DIR *d;
    struct dirent *e;
    snprintf(jdir, sizeof jdir, "%s/journal", dir);
    d = opendir(jdir);
    if (d == NULL) {
        return 0;
    }
    for (e = readdir(d); e != NULL; e = readdir(d)) {
        if (strlen(e->d_name) == 24 && strcmp(e->d_name + 20, ".seg") == 0 && n < max) {
            segs[n++] = strtoull(e->d_name, NULL, 10);
        }
    }
    closedir(d);
    qsort(segs, n, sizeof *segs, cmp_u64);
    return n;
}

/* Walks the records of every segment by the documented layout, checking CRC and chain as it
 * goes; returns the number of records, or (size_t)-1 if the format is not as documented. */
static size_t parse_journal(const char *dir, struct rec_info *out, size_t max)
{
    uint64_t segs[256];
    size_t nseg = list_segments(dir, segs, 256);
    size_t n = 0;
    uint8_t prev[CRYPTO_SM3_BYTES] = {0};
    for (size_t s = 0; s < nseg; s++) {
        char path[512];
        size_t len;
        size_t off = 0;
        seg_file(path, sizeof path, dir, segs[s]);
        uint8_t *buf = file_read(path, &len);
        while (buf != NULL && off + 96 <= len && le32(buf + off) == JOURNAL_MAGIC) {
            uint32_t size = le32(buf + off + 8);
            if (n == max || off + 96 + size > len ||
                crc32c(0, buf + off + 8, 88 + (size_t)size) != le32(buf + off + 4) ||
                memcmp(buf + off + 40, prev, sizeof prev) != 0) {
                free(buf);
                return (size_t)-1;
            }
            struct rec_info *r = &out[n++];
            snprintf(r->file, sizeof r->file, "%s", path);
            r->first_seq = segs[s];
            r->off = off;
            r->size = size;
            r->type = (uint16_t)(buf[off + 12] | buf[off + 13] << 8);
            r->seq = le64(buf + off + 16);
            crypto_sm3(buf + off + 8, 88 + (size_t)size, r->hash);
            memcpy(prev, r->hash, sizeof prev);
            off += 96 + size;
        }
        free(buf);
    }
    return n;
}

/* ---- helpers: the journal under test and a model of what was written ---- */

struct batch {
    int64_t ts;
    uint32_t count;
    uint32_t size;
    uint64_t seq;
    uint8_t *payload;
};

struct model {
    struct batch v[512];
    size_t n;
};

static void model_free(struct model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].payload);
    }
    m->n = 0;
}

static void model_push(struct model *m, int64_t ts, uint32_t count, const uint8_t *payload,
                       uint32_t size, uint64_t seq)
{
    if (m->n == JZ_ARRAY_LEN(m->v)) {
        return;
    }
    struct batch *b = &m->v[m->n++];
    b->ts = ts;
    b->count = count;
    b->size = size;
    b->seq = seq;
    b->payload = malloc(size + 1);
    if (size > 0) {
        memcpy(b->payload, payload, size);
    }
}

static int collect(void *ctx, const struct journal_record *rec)
{
    struct model *m = ctx;
    if (rec->type != JOURNAL_TYPE_BATCH) {
        return 99;
    }
    model_push(m, rec->timestamp_ms, rec->count, rec->payload, rec->size, rec->seq);
    return 0;
}

/* True when got holds exactly want's batches [from, from + got->n). */
static bool model_equal_from(const struct model *want, size_t from, const struct model *got)
{
    if (from + got->n > want->n) {
        return false;
    }
    for (size_t i = 0; i < got->n; i++) {
        const struct batch *a = &want->v[from + i];
        const struct batch *b = &got->v[i];
        if (a->ts != b->ts || a->count != b->count || a->size != b->size ||
            (a->seq != 0 && a->seq != b->seq) || memcmp(a->payload, b->payload, a->size) != 0) {
            return false;
        }
    }
    return true;
}

static struct journal_config config(const char *dir, uint32_t segment_bytes,
                                    uint32_t checkpoint_every, const crypto_sm2_key *key)
{
    struct journal_config c = {.dir = dir, .segment_bytes = segment_bytes,
                               .checkpoint_every = checkpoint_every, .io = NULL,
                               .sign_key = key};
    return c;
}

static journal *open_at(const struct journal_config *c, uint64_t from_seq,
                        const uint8_t *prev_hash, struct model *replayed)
{
    char err[ERR_LEN] = "";
    journal *j = NULL;
    journal_replay_fn fn = replayed != NULL ? collect : NULL;
    if (journal_open(c, from_seq, prev_hash, fn, replayed, &j, err, sizeof err) != 0) {
        fprintf(stderr, "  journal_open: %s\n", err);
        return NULL;
    }
    return j;
}

/* For opens that must fail: no message printed. */
static bool open_fails(const struct journal_config *c, uint64_t from_seq,
                       const uint8_t *prev_hash)
{
    char err[ERR_LEN] = "";
    journal *j = NULL;
    if (journal_open(c, from_seq, prev_hash, NULL, NULL, &j, err, sizeof err) != 0) {
        return true;
    }
    journal_close(j);
    return false;
}

static journal *create_open(const struct journal_config *c)
{
    char err[ERR_LEN] = "";
    if (journal_create(c, err, sizeof err) != 0) {
        fprintf(stderr, "  journal_create: %s\n", err);
        return NULL;
    }
    return open_at(c, 1, NULL, NULL);
}

/* Appends one batch of a random size in [0, max_size] and records it in m. */
static int append_random(journal *j, uint64_t *rng, struct model *m, uint32_t max_size)
{
    static uint8_t payload[1 << 16];
    uint32_t size = (uint32_t)(rng_next(rng) % (max_size + 1));
    int64_t ts = (int64_t)(rng_next(rng) >> 1);
    uint32_t count = (uint32_t)rng_next(rng);
    uint64_t seq = 0;
    rng_fill(rng, payload, size);
    if (journal_append(j, ts, count, payload, size, &seq) != 0) {
        return -1;
    }
    model_push(m, ts, count, payload, size, seq);
    return 0;
}

/* ---- tests ---- */

TEST(journal_roundtrip)
{
    uint64_t rng = test_seed();
    struct journal_config c = config(test_dir("j"), 0, 0, NULL);
    struct model written = {0};
    struct model replayed = {0};
    uint8_t hash_before[CRYPTO_SM3_BYTES];
    uint8_t hash_after[CRYPTO_SM3_BYTES];
    journal *j = create_open(&c);
    REQUIRE(j != NULL);
    CHECK_EQ_INT(journal_head_seq(j), 0);
    for (int i = 0; i < 60; i++) {
        REQUIRE(append_random(j, &rng, &written, 30000) == 0);
        CHECK_EQ_INT(written.v[i].seq, i + 1);
    }
    CHECK_EQ_INT(journal_head_seq(j), 60);
    journal_head_hash(j, hash_before);
    journal_close(j);

    j = open_at(&c, 1, NULL, &replayed);
    REQUIRE(j != NULL);
    CHECK_EQ_INT(replayed.n, 60);
    CHECK(model_equal_from(&written, 0, &replayed));
    CHECK_EQ_INT(journal_head_seq(j), 60);
    journal_head_hash(j, hash_after);
    CHECK_EQ_MEM(hash_before, hash_after, sizeof hash_after);
    journal_close(j);
    model_free(&written);
    model_free(&replayed);
}

TEST(journal_on_disk_format)
{
    const char *dir = test_dir("j");
    struct journal_config c = config(dir, 16384, 0, NULL);
    struct rec_info recs[8];
    uint8_t payload[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    uint8_t head[CRYPTO_SM3_BYTES];
    char path[512];
    size_t len;
    journal *j = create_open(&c);
    REQUIRE(j != NULL);
    REQUIRE(journal_append(j, -5, 7, payload, sizeof payload, NULL) == 0);
    REQUIRE(journal_append(j, 6, 0, NULL, 0, NULL) == 0);
    journal_head_hash(j, head);
    journal_close(j);

    REQUIRE_EQ_INT(parse_journal(dir, recs, 8), 2);
    CHECK_EQ_MEM(recs[1].hash, head, sizeof head);
    seg_file(path, sizeof path, dir, 1);
    uint8_t *buf = file_read(path, &len);
    REQUIRE(buf != NULL);
    CHECK_EQ_INT(len, 16384);
    CHECK_EQ_MEM(buf, "JZJ1", 4);
    CHECK_EQ_INT(le32(buf + 8), 10);
    CHECK_EQ_INT(buf[12] | buf[13] << 8, JOURNAL_TYPE_BATCH);
    CHECK_EQ_INT(buf[14] | buf[15] << 8, 1);
    CHECK_EQ_INT(le64(buf + 16), 1);
    CHECK_EQ_INT((int64_t)le64(buf + 24), -5);
    CHECK_EQ_INT(le32(buf + 32), 7);
    for (int i = 36; i < 96; i++) {
        CHECK_EQ_INT(buf[i], 0); /* reserved, and the zero prev_hash of seq 1 */
    }
    CHECK_EQ_MEM(buf + 96, payload, sizeof payload);
    CHECK_EQ_INT(le64(buf + 106 + 16), 2);
    free(buf);
}

TEST(journal_segments_and_from_seq)
{
    uint64_t rng = test_seed();
    const char *dir = test_dir("j");
    struct journal_config c = config(dir, 65536, 0, NULL);
    struct model written = {0};
    uint8_t hashes[81][CRYPTO_SM3_BYTES]; /* hashes[s] = hash of record s */
    uint64_t segs[64];
    struct rec_info recs[100];
    journal *j = create_open(&c);
    REQUIRE(j != NULL);
    memset(hashes[0], 0, sizeof hashes[0]);
    for (int i = 1; i <= 80; i++) {
        REQUIRE(append_random(j, &rng, &written, 12000) == 0);
        journal_head_hash(j, hashes[i]);
    }
    journal_close(j);

    size_t nseg = list_segments(dir, segs, 64);
    CHECK(nseg >= 4);
    REQUIRE_EQ_INT(parse_journal(dir, recs, 100), 80);
    for (size_t i = 0; i < 80; i++) {
        CHECK_EQ_MEM(recs[i].hash, hashes[i + 1], CRYPTO_SM3_BYTES);
        if (recs[i].off == 0) {
            CHECK_EQ_INT(recs[i].first_seq, recs[i].seq); /* named by its first record */
        }
    }
    for (uint64_t from = 1; from <= 81; from++) {
        struct model replayed = {0};
        uint8_t head[CRYPTO_SM3_BYTES];
        j = open_at(&c, from, from > 1 ? hashes[from - 1] : NULL, &replayed);
        REQUIRE(j != NULL);
        CHECK_EQ_INT(replayed.n, 81 - from);
        CHECK(model_equal_from(&written, from - 1, &replayed));
        CHECK_EQ_INT(journal_head_seq(j), 80);
        journal_head_hash(j, head);
        CHECK_EQ_MEM(head, hashes[80], sizeof head);
        journal_close(j);
        model_free(&replayed);
    }
    /* A wrong previous hash, and a snapshot newer than the journal, both fail. */
    for (uint64_t from = 2; from <= 81; from += 13) {
        uint8_t wrong[CRYPTO_SM3_BYTES];
        memcpy(wrong, hashes[from - 1], sizeof wrong);
        wrong[5] ^= 1;
        CHECK(open_fails(&c, from, wrong));
    }
    CHECK(open_fails(&c, 82, hashes[80]));
    model_free(&written);
}

/* A journal of five records in one segment; returns the last record's offset and end. */
static int torn_fixture(const struct journal_config *c, uint64_t *rng, struct model *m,
                        struct rec_info *recs)
{
    journal *j = create_open(c);
    if (j == NULL) {
        return -1;
    }
    for (int i = 0; i < 5; i++) {
        if (append_random(j, rng, m, 300) != 0) {
            journal_close(j);
            return -1;
        }
    }
    journal_close(j);
    return parse_journal(c->dir, recs, 8) == 5 ? 0 : -1;
}

TEST(journal_torn_tail_every_offset)
{
    uint64_t rng = test_seed();
    const char *dir = test_dir("j");
    struct journal_config c = config(dir, 8192, 0, NULL);
    struct model written = {0};
    struct rec_info recs[8];
    char path[512];
    size_t len;
    int bad = 0;
    REQUIRE(torn_fixture(&c, &rng, &written, recs) == 0);
    seg_file(path, sizeof path, dir, 1);
    uint8_t *pristine = file_read(path, &len);
    REQUIRE(pristine != NULL);
    size_t start = recs[4].off;
    size_t end = recs[4].off + 96 + recs[4].size;
    uint8_t zeros[96 + 300] = {0};
    for (size_t x = start; x < end && bad < 5; x++) {
        struct model replayed = {0};
        uint8_t head[CRYPTO_SM3_BYTES];
        uint8_t fresh[40];
        /* A random payload may end in zero bytes: zeroing those tears nothing. */
        bool already_zero = true;
        for (size_t k = x; k < end && already_zero; k++) {
            already_zero = pristine[k] == 0;
        }
        if (already_zero) {
            continue;
        }
        REQUIRE(file_pwrite(path, pristine, len, 0) == 0);
        REQUIRE(file_pwrite(path, zeros, end - x, (off_t)x) == 0);
        journal *j = open_at(&c, 1, NULL, &replayed);
        if (j == NULL) {
            bad++;
            test_fail(__FILE__, __LINE__, "torn at offset %zu: open failed", x);
            continue;
        }
        journal_head_hash(j, head);
        CHECK_EQ_INT(journal_head_seq(j), 4);
        CHECK_EQ_MEM(head, recs[3].hash, sizeof head);
        CHECK(replayed.n == 4 && model_equal_from(&written, 0, &replayed));
        memset(fresh, (int)(x & 0xff), sizeof fresh);
        CHECK(journal_append(j, 77, 1, fresh, sizeof fresh, NULL) == 0);
        journal_close(j);
        model_free(&replayed);
        /* The torn bytes beyond the shorter new record were zeroed: a clean audit. */
        char err[ERR_LEN] = "";
        if (journal_verify(dir, NULL, NULL, err, sizeof err) != 0) {
            test_fail(__FILE__, __LINE__, "torn at offset %zu: verify: %s", x, err);
        }
        j = open_at(&c, 1, NULL, &replayed);
        REQUIRE(j != NULL);
        CHECK_EQ_INT(replayed.n, 5);
        if (replayed.n == 5) {
            CHECK_EQ_INT(replayed.v[4].ts, 77);
            CHECK(replayed.v[4].size == sizeof fresh &&
                  memcmp(replayed.v[4].payload, fresh, sizeof fresh) == 0);
        }
        journal_close(j);
        model_free(&replayed);
    }
    free(pristine);
    model_free(&written);
}

/* The message must name the file and the exact offset of the damaged record. */
static bool err_names(const char *err, const struct rec_info *r)
{
    char offset[64];
    snprintf(offset, sizeof offset, ": offset %zu:", r->off);
    const char *at = strstr(err, r->file);
    return at != NULL && strncmp(at + strlen(r->file), offset, strlen(offset)) == 0;
}

TEST(journal_corruption_detected)
{
    uint64_t rng = test_seed();
    const char *dir = test_dir("j");
    struct journal_config c = config(dir, 8192, 0, NULL);
    struct model written = {0};
    struct rec_info recs[64];
    static const size_t positions[] = {0, 3, 4, 7, 8, 9, 11, 12, 14, 16, 23, 24, 32, 36, 40, 71,
                                       72, 88, 95};
    journal *j = create_open(&c);
    REQUIRE(j != NULL);
    for (int i = 0; i < 12; i++) {
        REQUIRE(append_random(j, &rng, &written, 3000) == 0);
    }
    journal_close(j);
    size_t n = parse_journal(dir, recs, 64);
    REQUIRE_EQ_INT(n, 12);
    CHECK(recs[11].first_seq > 1); /* several segments */
    for (size_t r = 0; r + 1 < n; r++) {
        size_t extra[3] = {96, 96 + recs[r].size / 2, 96 + recs[r].size - 1};
        for (size_t k = 0; k < JZ_ARRAY_LEN(positions) + 3; k++) {
            size_t pos = k < JZ_ARRAY_LEN(positions) ? positions[k]
                                                      : extra[k - JZ_ARRAY_LEN(positions)];
            char err[ERR_LEN] = "";
            struct journal_verify_report rep;
            uint8_t mask = (uint8_t)(1u << ((r + k) % 8));
            if (pos >= 96 + recs[r].size) {
                continue; /* empty payload */
            }
            file_flip(recs[r].file, recs[r].off + pos, mask);
            j = NULL;
            CHECK(journal_open(&c, 1, NULL, NULL, NULL, &j, err, sizeof err) != 0);
            if (!err_names(err, &recs[r]) || strstr(err, "torn") != NULL) {
                test_fail(__FILE__, __LINE__, "record %zu byte %zu: err \"%s\"", r, pos, err);
            }
            journal_close(j);
            CHECK(journal_verify(dir, NULL, &rep, err, sizeof err) != 0);
            CHECK(err_names(err, &recs[r]) && strstr(err, "torn") == NULL);
            file_flip(recs[r].file, recs[r].off + pos, mask);
        }
    }
    /* Restored, everything verifies again. */
    char err[ERR_LEN] = "";
    CHECK(journal_verify(dir, NULL, NULL, err, sizeof err) == 0);
    model_free(&written);
}

TEST(journal_damage_in_last_segment_is_not_torn)
{
    uint64_t rng = test_seed();
    const char *dir = test_dir("j");
    struct journal_config c = config(dir, 16384, 0, NULL);
    struct model written = {0};
    struct rec_info recs[8];
    char err[ERR_LEN] = "";
    char path[512];
    uint8_t big[4] = {0xff, 0x0f, 0, 0};
    REQUIRE(torn_fixture(&c, &rng, &written, recs) == 0);
    seg_file(path, sizeof path, dir, 1);
    /* A size field grown to swallow the record behind it: still damage, not a torn tail. */
    uint8_t orig[4];
    size_t len;
    uint8_t *buf = file_read(path, &len);
    REQUIRE(buf != NULL);
    memcpy(orig, buf + recs[3].off + 8, 4);
    free(buf);
    REQUIRE(file_pwrite(path, big, 4, (off_t)(recs[3].off + 8)) == 0);
    journal *j = NULL;
    CHECK(journal_open(&c, 1, NULL, NULL, NULL, &j, err, sizeof err) != 0);
    CHECK(err_names(err, &recs[3]));
    REQUIRE(file_pwrite(path, orig, 4, (off_t)(recs[3].off + 8)) == 0);
    /* A zeroed header in the middle hides records behind it: damage too. */
    uint8_t zeros[96] = {0};
    REQUIRE(file_pwrite(path, zeros, 96, (off_t)recs[2].off) == 0);
    CHECK(journal_open(&c, 1, NULL, NULL, NULL, &j, err, sizeof err) != 0);
    CHECK(err_names(err, &recs[2]));
    CHECK(journal_verify(dir, NULL, NULL, err, sizeof err) != 0);
    model_free(&written);
}

TEST(journal_lost_header_is_torn_tail)
{
    uint64_t rng = test_seed();
    const char *dir = test_dir("j");
    struct journal_config c = config(dir, 16384, 0, NULL);
    struct model written = {0};
    struct model replayed = {0};
    struct rec_info recs[8];
    char err[ERR_LEN] = "";
    char path[512];
    uint8_t zeros[96] = {0};
    REQUIRE(torn_fixture(&c, &rng, &written, recs) == 0);
    seg_file(path, sizeof path, dir, 1);
    REQUIRE(file_pwrite(path, zeros, 96, (off_t)recs[4].off) == 0);
    CHECK(journal_verify(dir, NULL, NULL, err, sizeof err) != 0);
    CHECK(strstr(err, "torn record at end") != NULL);
    journal *j = open_at(&c, 1, NULL, &replayed);
    REQUIRE(j != NULL);
    CHECK_EQ_INT(journal_head_seq(j), 4);
    journal_close(j);
    /* Recovery zeroed the stale payload: the audit is clean now. */
    CHECK(journal_verify(dir, NULL, NULL, err, sizeof err) == 0);
    model_free(&written);
    model_free(&replayed);
}

TEST(journal_repair_failure_fails_open)
{
    uint64_t rng = test_seed();
    const char *dir = test_dir("j");
    struct journal_config c = config(dir, 8192, 0, NULL);
    struct model written = {0};
    struct model replayed = {0};
    struct rec_info recs[8];
    char path[512];
    uint8_t zeros[8] = {0};
    REQUIRE(torn_fixture(&c, &rng, &written, recs) == 0);
    seg_file(path, sizeof path, dir, 1);
    REQUIRE(file_pwrite(path, zeros, sizeof zeros, (off_t)(recs[4].off + 96)) == 0);
    /* Zeroing the torn tail, or making that durable, fails: so does the open. */
    c.io = &io_faulty;
    io_fault_arm(IO_FAULT_WRITE, 1);
    CHECK(open_fails(&c, 1, NULL));
    io_fault_arm(IO_FAULT_SYNC, 1);
    CHECK(open_fails(&c, 1, NULL));
    io_fault_disarm();
    c.io = NULL;
    journal *j = open_at(&c, 1, NULL, &replayed);
    REQUIRE(j != NULL);
    CHECK(replayed.n == 4 && model_equal_from(&written, 0, &replayed));
    journal_close(j);
    model_free(&written);
    model_free(&replayed);
}

TEST(journal_verify_detects_any_changed_byte)
{
    uint64_t rng = test_seed();
    const char *dir = test_dir("j");
    crypto_sm2_key *key = NULL;
    struct model written = {0};
    struct rec_info recs[16];
    struct journal_verify_report rep;
    char err[ERR_LEN] = "";
    size_t undetected = 0;
    REQUIRE(crypto_sm2_generate(&key) == 0);
    struct journal_config c = config(dir, 8192, 2, key);
    journal *j = create_open(&c);
    REQUIRE(j != NULL);
    for (int i = 0; i < 4; i++) {
        REQUIRE(append_random(j, &rng, &written, 60) == 0);
    }
    journal_close(j);
    REQUIRE_EQ_INT(parse_journal(dir, recs, 16), 6);
    REQUIRE(journal_verify(dir, key, &rep, err, sizeof err) == 0);
    CHECK_EQ_INT(rep.records, 6);
    CHECK_EQ_INT(rep.checkpoints, 2);
    size_t end = recs[5].off + 96 + recs[5].size;
    for (size_t off = 0; off < end; off++) {
        file_flip(recs[0].file, off, 0xff);
        if (journal_verify(dir, key, &rep, err, sizeof err) == 0) {
            if (undetected++ == 0) {
                test_fail(__FILE__, __LINE__, "change at offset %zu not detected", off);
            }
        }
        file_flip(recs[0].file, off, 0xff);
    }
    CHECK_EQ_INT(undetected, 0);
    CHECK(journal_verify(dir, key, &rep, err, sizeof err) == 0);
    crypto_sm2_free(key);
    model_free(&written);
}

TEST(journal_checkpoints)
{
    uint64_t rng = test_seed();
    const char *dir = test_dir("j");
    crypto_sm2_key *key = NULL;
    crypto_sm2_key *other = NULL;
    crypto_sm2_key *pub = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    struct model written = {0};
    struct model replayed = {0};
    struct journal_verify_report rep;
    char err[ERR_LEN] = "";
    uint8_t head[CRYPTO_SM3_BYTES];
    uint64_t commands = 0;
    REQUIRE(crypto_sm2_generate(&key) == 0);
    REQUIRE(crypto_sm2_generate(&other) == 0);
    REQUIRE(crypto_sm2_public_pem(key, &pem, &pem_len) == 0);
    REQUIRE(crypto_sm2_load_public_pem(pem, pem_len, &pub) == 0);
    struct journal_config c = config(dir, 65536, 3, key);
    journal *j = create_open(&c);
    REQUIRE(j != NULL);
    for (int i = 0; i < 10; i++) {
        REQUIRE(append_random(j, &rng, &written, 500) == 0);
        commands += written.v[i].count;
    }
    /* b1 b2 b3 c4 b5 b6 b7 c8 b9 b10 b11 c12 b13 */
    CHECK_EQ_INT(written.v[9].seq, 13);
    journal_head_hash(j, head);
    journal_close(j);

    CHECK(journal_verify(dir, pub, &rep, err, sizeof err) == 0);
    CHECK_EQ_INT(rep.records, 13);
    CHECK_EQ_INT(rep.batches, 10);
    CHECK_EQ_INT(rep.checkpoints, 3);
    CHECK_EQ_INT(rep.commands, commands);
    CHECK_EQ_INT(rep.head_seq, 13);
    CHECK_EQ_INT(rep.last_checkpoint_seq, 11);
    CHECK_EQ_INT(rep.head_timestamp_ms, written.v[9].ts);
    CHECK_EQ_MEM(rep.head_hash, head, sizeof head);
    CHECK(journal_verify(dir, other, &rep, err, sizeof err) != 0);
    CHECK(strstr(err, "signature") != NULL && strstr(err, "00000000000000000001.seg") != NULL);
    CHECK(journal_verify(dir, NULL, &rep, err, sizeof err) != 0);

    /* Replay yields batches only; the checkpoint counter survives a reopen. */
    j = open_at(&c, 1, NULL, &replayed);
    REQUIRE(j != NULL);
    CHECK(replayed.n == 10 && model_equal_from(&written, 0, &replayed));
    REQUIRE(append_random(j, &rng, &written, 500) == 0);
    REQUIRE(append_random(j, &rng, &written, 500) == 0);
    CHECK_EQ_INT(written.v[11].seq, 15); /* b14 b15, then c16: b13 counted before reopen */
    journal_close(j);
    CHECK(journal_verify(dir, pub, &rep, err, sizeof err) == 0);
    CHECK_EQ_INT(rep.checkpoints, 4);
    CHECK_EQ_INT(rep.records, 16);
    free(pem);
    crypto_sm2_free(pub);
    crypto_sm2_free(other);
    crypto_sm2_free(key);
    model_free(&written);
    model_free(&replayed);
}

TEST(journal_refuses)
{
    const char *dir = test_dir("j");
    struct journal_config c = config(dir, 65536, 0, NULL);
    char err[ERR_LEN] = "";
    uint8_t *big = calloc(1, JZ_JOURNAL_RECORD_MAX + 1);
    uint64_t seq = 0;
    REQUIRE(big != NULL);
    journal *j = create_open(&c);
    REQUIRE(j != NULL);
    CHECK(journal_create(&c, err, sizeof err) != 0); /* exists */
    CHECK(journal_append(j, 1, 1, big, 65536 - 96 + 1, &seq) != 0);
    CHECK(journal_append(j, 1, 1, big, JZ_JOURNAL_RECORD_MAX + 1, &seq) != 0);
    CHECK(!journal_is_dead(j));
    CHECK_EQ_INT(journal_head_seq(j), 0);
    CHECK(journal_append(j, 1, 1, big, 100, &seq) == 0);
    CHECK(journal_append(j, 1, 1, big, 65536 - 96, &seq) == 0); /* fills a segment */
    CHECK_EQ_INT(seq, 2);
    journal_close(j);

    /* A snapshot ahead of the journal, from_seq 0, and checkpoints without a key. */
    CHECK(open_fails(&c, 4, NULL));
    j = NULL;
    CHECK(journal_open(&c, 0, NULL, NULL, NULL, &j, err, sizeof err) != 0);
    struct journal_config nokey = config(dir, 65536, 5, NULL);
    CHECK(journal_open(&nokey, 1, NULL, NULL, NULL, &j, err, sizeof err) != 0);

    /* Dead after a failed sync: every later call fails, even once the disk is fine. */
    c.io = &io_faulty;
    j = open_at(&c, 1, NULL, NULL);
    REQUIRE(j != NULL);
    io_fault_arm(IO_FAULT_SYNC, 1);
    CHECK(journal_append(j, 1, 1, big, 10, &seq) != 0);
    io_fault_disarm();
    CHECK(journal_is_dead(j));
    CHECK(journal_append(j, 1, 1, big, 10, &seq) != 0);
    CHECK(journal_write(j, 1, 1, big, 10, &seq) != 0);
    CHECK(journal_sync(j) != 0);
    journal_close(j);
    free(big);
}

TEST(journal_empty_and_missing)
{
    const char *dir = test_dir("j");
    struct journal_config c = config(dir, 65536, 0, NULL);
    struct journal_verify_report rep;
    uint8_t head[CRYPTO_SM3_BYTES];
    uint8_t zeros[CRYPTO_SM3_BYTES] = {0};
    char err[ERR_LEN] = "";
    journal *j = NULL;
    CHECK(journal_open(&c, 1, NULL, NULL, NULL, &j, err, sizeof err) != 0);
    CHECK(journal_verify(dir, NULL, &rep, err, sizeof err) != 0);
    j = create_open(&c);
    REQUIRE(j != NULL);
    CHECK_EQ_INT(journal_head_seq(j), 0);
    journal_head_hash(j, head);
    CHECK_EQ_MEM(head, zeros, sizeof zeros);
    CHECK(journal_sync(j) == 0);
    journal_close(j);
    journal_close(NULL);
    CHECK(journal_verify(dir, NULL, &rep, err, sizeof err) == 0);
    CHECK_EQ_INT(rep.records, 0);
    CHECK(open_fails(&c, 2, NULL));
}

/* ---- fault injection ---- */

#define FAULT_APPENDS 24

struct fault_run {
    int acked;     /* appends that returned 0 */
    int attempted; /* appends tried */
    bool ok;       /* the journal behaved (dead stays dead, fired means failed) */
};

/* The workload: appends until one fails, and a few more to see that they fail too. */
static struct fault_run fault_workload(const struct journal_config *c, enum io_fault_kind kind,
                                       uint64_t seed, struct model *written)
{
    struct fault_run run = {0, 0, true};
    uint64_t rng = seed;
    char err[ERR_LEN] = "";
    journal *j = NULL;
    if (journal_open(c, 1, NULL, NULL, NULL, &j, err, sizeof err) != 0) {
        return run;
    }
    for (int i = 0; i < FAULT_APPENDS; i++) {
        static uint8_t payload[12000];
        uint32_t size = (uint32_t)(rng_next(&rng) % sizeof payload);
        bool fired_before = io_fault_fired();
        rng_fill(&rng, payload, size);
        model_push(written, i, (uint32_t)i, payload, size, 0);
        run.attempted++;
        int rc = journal_append(j, i, (uint32_t)i, payload, size, NULL);
        if (rc == 0 && run.acked != i) {
            run.ok = false; /* succeeded after a failure */
        }
        if (rc == 0 && fired_before && (kind == IO_FAULT_SYNC || kind == IO_FAULT_WRITE)) {
            run.ok = false; /* every append writes and syncs: it must have failed */
        }
        if (rc != 0 && !journal_is_dead(j)) {
            run.ok = false;
        }
        if (rc == 0) {
            run.acked++;
        }
    }
    journal_close(j);
    return run;
}

/* One fault at the nth call of kind; then recovery with the real disk must find a prefix of
 * what was written that holds every acknowledged batch and at most one more. */
static int fault_cases;
static int fault_cases_failed;

static void fault_case(crypto_sm2_key *key, enum io_fault_kind kind, long nth, uint64_t seed)
{
    char name[64];
    char err[ERR_LEN] = "";
    struct model written = {0};
    struct model recovered = {0};
    snprintf(name, sizeof name, "f%d_%ld", (int)kind, nth);
    struct journal_config c = config(test_dir(name), 65536, 4, key);
    if (journal_create(&c, err, sizeof err) != 0) {
        test_fail(__FILE__, __LINE__, "create: %s", err);
        return;
    }
    c.io = &io_faulty;
    io_fault_arm(kind, nth);
    struct fault_run run = fault_workload(&c, kind, seed, &written);
    io_fault_disarm();
    fault_cases++;
    fault_cases_failed += run.acked < FAULT_APPENDS;
    if (!run.ok) {
        test_fail(__FILE__, __LINE__, "kind %d nth %ld: journal kept going after a fault",
                  (int)kind, nth);
    }
    c.io = NULL;
    journal *j = open_at(&c, 1, NULL, &recovered);
    if (j == NULL) {
        test_fail(__FILE__, __LINE__, "kind %d nth %ld: recovery failed", (int)kind, nth);
        model_free(&written);
        return;
    }
    journal_close(j);
    if ((int)recovered.n < run.acked || (int)recovered.n > run.acked + 1 ||
        !model_equal_from(&written, 0, &recovered)) {
        test_fail(__FILE__, __LINE__, "kind %d nth %ld: acked %d, recovered %zu", (int)kind,
                  nth, run.acked, recovered.n);
    }
    if (journal_verify(c.dir, key, NULL, err, sizeof err) != 0) {
        test_fail(__FILE__, __LINE__, "kind %d nth %ld: verify: %s", (int)kind, nth, err);
    }
    test_count_check();
    model_free(&written);
    model_free(&recovered);
}

TEST(journal_fault_injection)
{
    static const enum io_fault_kind kinds[] = {IO_FAULT_SYNC, IO_FAULT_WRITE, IO_FAULT_OPEN,
                                               IO_FAULT_RENAME};
    uint64_t seed = test_seed();
    crypto_sm2_key *key = NULL;
    REQUIRE(crypto_sm2_generate(&key) == 0);
    for (size_t k = 0; k < JZ_ARRAY_LEN(kinds); k++) {
        struct model written = {0};
        char name[32];
        char err[ERR_LEN] = "";
        /* A dry run counts the calls of this kind the workload makes. */
        snprintf(name, sizeof name, "dry%zu", k);
        struct journal_config c = config(test_dir(name), 65536, 4, key);
        REQUIRE(journal_create(&c, err, sizeof err) == 0);
        c.io = &io_faulty;
        io_fault_arm(kinds[k], 1L << 40);
        struct fault_run dry = fault_workload(&c, kinds[k], seed, &written);
        long calls = io_fault_calls(kinds[k]);
        io_fault_disarm();
        model_free(&written);
        CHECK_EQ_INT(dry.acked, FAULT_APPENDS);
        CHECK(calls > 0);
        for (long n = 1; n <= calls + 1; n++) {
            fault_case(key, kinds[k], n, seed);
        }
        printf("     %s: %ld calls\n", kinds[k] == IO_FAULT_SYNC    ? "sync"
                                      : kinds[k] == IO_FAULT_WRITE ? "write"
                                      : kinds[k] == IO_FAULT_OPEN  ? "open"
                                                                   : "rename",
               calls);
    }
    printf("     %d fault cases, %d stopped the workload\n", fault_cases, fault_cases_failed);
    CHECK(fault_cases_failed > 0);
    crypto_sm2_free(key);
}
