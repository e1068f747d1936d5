/*
 * test_journal_reader.c: the tailing reader follows a journal across segments, returns only
 * what is durable, starts anywhere, and reports damage with file and offset.
 */
#include <fcntl.h>
#include <unistd.h>

#include "journal.h"
#include "test.h"

static journal *make_journal(const char *dir, uint32_t segment_bytes)
{
    struct journal_config cfg = {.dir = dir, .segment_bytes = segment_bytes};
    char err[512];
    journal *j = NULL;
    if (journal_create(&cfg, err, sizeof err) != 0 ||
        journal_open(&cfg, 1, NULL, NULL, NULL, &j, err, sizeof err) != 0) {
        fprintf(stderr, "  %s\n", err);
        return NULL;
    }
    return j;
}

static void payload_of(uint64_t seq, uint8_t *buf, uint32_t *size)
{
    *size = 100 + (uint32_t)(seq * 7919 % 3000);
    for (uint32_t i = 0; i < *size; i++) {
        buf[i] = (uint8_t)(seq * 31 + i);
    }
}

TEST(journal_reader_follows_across_segments)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/j", test_tmpdir());
    journal *j = make_journal(dir, 16384);
    REQUIRE(j != NULL);
    static uint8_t buf[4096];
    uint32_t size;
    for (uint64_t s = 1; s <= 60; s++) {
        uint64_t seq;
        payload_of(s, buf, &size);
        REQUIRE(journal_append(j, 1000 + (int64_t)s, 1, buf, size, &seq) == 0);
        REQUIRE_EQ_INT(seq, s);
    }
    char err[512];
    journal_reader *r = NULL;
    REQUIRE(journal_reader_open(dir, 1, &r, err, sizeof err) == 0);
    struct journal_record rec;
    /* Only what the caller says is durable. */
    uint64_t got = 0;
    while (journal_reader_next(r, 40, &rec, err, sizeof err) == 1) {
        got++;
        payload_of(rec.seq, buf, &size);
        CHECK_EQ_INT(rec.seq, got);
        CHECK_EQ_INT(rec.size, size);
        CHECK(memcmp(rec.payload, buf, size) == 0);
        CHECK_EQ_INT(rec.timestamp_ms, 1000 + (int64_t)rec.seq);
    }
    CHECK_EQ_INT(got, 40);
    CHECK_EQ_INT(journal_reader_position(r), 41);
    /* More is appended while the reader is open; it follows. */
    for (uint64_t s = 61; s <= 80; s++) {
        uint64_t seq;
        payload_of(s, buf, &size);
        REQUIRE(journal_append(j, 1000 + (int64_t)s, 1, buf, size, &seq) == 0);
    }
    while (journal_reader_next(r, 80, &rec, err, sizeof err) == 1) {
        got++;
        CHECK_EQ_INT(rec.seq, got);
    }
    CHECK_EQ_INT(got, 80);
    journal_reader_close(r);
    /* Starting in the middle, in a later segment. */
    REQUIRE(journal_reader_open(dir, 57, &r, err, sizeof err) == 0);
    REQUIRE(journal_reader_next(r, 80, &rec, err, sizeof err) == 1);
    CHECK_EQ_INT(rec.seq, 57);
    journal_reader_close(r);
    /* Caught up: positioned after the head, nothing to read yet; beyond that is an error. */
    REQUIRE(journal_reader_open(dir, 81, &r, err, sizeof err) == 0);
    CHECK_EQ_INT(journal_reader_next(r, 80, &rec, err, sizeof err), 0);
    journal_reader_close(r);
    CHECK(journal_reader_open(dir, 82, &r, err, sizeof err) != 0);
    journal_close(j);
}

TEST(journal_reader_reports_damage)
{
    char dir[512];
    char path[700];
    snprintf(dir, sizeof dir, "%s/j", test_tmpdir());
    journal *j = make_journal(dir, 1u << 20);
    REQUIRE(j != NULL);
    static uint8_t buf[4096];
    uint32_t size;
    for (uint64_t s = 1; s <= 5; s++) {
        uint64_t seq;
        payload_of(s, buf, &size);
        REQUIRE(journal_append(j, 1, 1, buf, size, &seq) == 0);
    }
    journal_close(j);
    snprintf(path, sizeof path, "%s/journal/00000000000000000001.seg", dir);
    int fd = open(path, O_RDWR);
    REQUIRE(fd >= 0);
    uint8_t b = 0;
    REQUIRE(pread(fd, &b, 1, 150) == 1);
    b ^= 0x10;
    REQUIRE(pwrite(fd, &b, 1, 150) == 1);
    close(fd);
    char err[512];
    journal_reader *r = NULL;
    REQUIRE(journal_reader_open(dir, 1, &r, err, sizeof err) == 0);
    struct journal_record rec;
    CHECK_EQ_INT(journal_reader_next(r, 5, &rec, err, sizeof err), -1);
    CHECK(strstr(err, "00000000000000000001.seg: offset 0") != NULL);
    journal_reader_close(r);
}
