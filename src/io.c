/*
 * io.c: the io_ops tables of io.h (io_posix and the fault-injecting io_faulty) and the
 * helpers built on them.
 *
 * io_posix is a thin layer over the system calls that retries EINTR where a retry is the
 * same call again (open, pread, pwrite, fsync, ftruncate); close is never retried, because on
 * Linux the descriptor is gone even when close reports EINTR. io_faulty counts calls per kind
 * with atomics, since a journal may prepare its next segment on a helper thread.
 */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest path io_mkdir_p accepts: Linux's PATH_MAX (whose header src/limits.h shadows under
 * -Isrc, so it is spelled out here). */
#define IO_PATH_MAX 4096

static int posix_open(const char *path, int flags, mode_t mode)
{
    int fd;
    do {
        fd = open(path, flags, mode);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

static int posix_close(int fd)
{
    return close(fd);
}

static ssize_t posix_pread(int fd, void *buf, size_t len, off_t off)
{
    ssize_t n;
    do {
        n = pread(fd, buf, len, off);
    } while (n < 0 && errno == EINTR);
    return n;
}

static ssize_t posix_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    ssize_t n;
    do {
        n = pwrite(fd, buf, len, off);
    } while (n < 0 && errno == EINTR);
    return n;
}

static int posix_fsync(int fd)
{
    int rc;
    do {
        rc = fsync(fd);
    } while (rc != 0 && errno == EINTR);
    return rc;
}

static int posix_fdatasync(int fd)
{
    int rc;
    do {
        rc = fdatasync(fd);
    } while (rc != 0 && errno == EINTR);
    return rc;
}

static int posix_ftruncate(int fd, off_t len)
{
    int rc;
    do {
        rc = ftruncate(fd, len);
    } while (rc != 0 && errno == EINTR);
    return rc;
}

static int posix_rename(const char *from, const char *to)
{
    return rename(from, to);
}

static int posix_unlink(const char *path)
{
    return unlink(path);
}

const struct io_ops io_posix = {
    .open = posix_open,
    .close = posix_close,
    .pread = posix_pread,
    .pwrite = posix_pwrite,
    .fsync = posix_fsync,
    .fdatasync = posix_fdatasync,
    .ftruncate = posix_ftruncate,
    .rename = posix_rename,
    .unlink = posix_unlink,
};

/* Fault injection state. fault_kind is -1 when disarmed. Counting and firing are atomic so
 * that a helper thread's calls neither race nor get lost. */
static atomic_long fault_calls[IO_FAULT_KINDS];
static atomic_int fault_kind = -1;
static atomic_long fault_nth;
static atomic_bool fault_fired_flag;

/* Counts one call of kind and says whether it must fail. */
static bool fault_hit(enum io_fault_kind kind)
{
    long n = atomic_fetch_add(&fault_calls[kind], 1) + 1;
    if (atomic_load(&fault_kind) == (int)kind && n >= atomic_load(&fault_nth)) {
        atomic_store(&fault_fired_flag, true);
        return true;
    }
    return false;
}

void io_fault_arm(enum io_fault_kind kind, long nth)
{
    for (int k = 0; k < IO_FAULT_KINDS; k++) {
        atomic_store(&fault_calls[k], 0);
    }
    atomic_store(&fault_fired_flag, false);
    atomic_store(&fault_nth, nth < 1 ? 1 : nth);
    atomic_store(&fault_kind, (int)kind);
}

void io_fault_disarm(void)
{
    atomic_store(&fault_kind, -1);
}

long io_fault_calls(enum io_fault_kind kind)
{
    return atomic_load(&fault_calls[kind]);
}

bool io_fault_fired(void)
{
    return atomic_load(&fault_fired_flag);
}

static int faulty_open(const char *path, int flags, mode_t mode)
{
    if (fault_hit(IO_FAULT_OPEN)) {
        errno = EIO;
        return -1;
    }
    return posix_open(path, flags, mode);
}

static ssize_t faulty_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    if (fault_hit(IO_FAULT_WRITE)) {
        /* A full disk takes part of a write before it refuses the rest: the half that lands
         * is what makes this a torn write for the layers above. */
        size_t half = len / 2;
        size_t done = 0;
        while (done < half) {
            ssize_t n = posix_pwrite(fd, (const char *)buf + done, half - done,
                                     off + (off_t)done);
            if (n <= 0) {
                break;
            }
            done += (size_t)n;
        }
        errno = ENOSPC;
        return -1;
    }
    return posix_pwrite(fd, buf, len, off);
}

static int faulty_fsync(int fd)
{
    if (fault_hit(IO_FAULT_SYNC)) {
        errno = EIO;
        return -1;
    }
    return posix_fsync(fd);
}

static int faulty_fdatasync(int fd)
{
    if (fault_hit(IO_FAULT_SYNC)) {
        errno = EIO;
        return -1;
    }
    return posix_fdatasync(fd);
}

static int faulty_rename(const char *from, const char *to)
{
    if (fault_hit(IO_FAULT_RENAME)) {
        errno = EIO;
        return -1;
    }
    return posix_rename(from, to);
}

const struct io_ops io_faulty = {
    .open = faulty_open,
    .close = posix_close,
    .pread = posix_pread,
    .pwrite = faulty_pwrite,
    .fsync = faulty_fsync,
    .fdatasync = faulty_fdatasync,
    .ftruncate = posix_ftruncate,
    .rename = faulty_rename,
    .unlink = posix_unlink,
};

int io_pwrite_all(const struct io_ops *io, int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = io->pwrite(fd, p + done, len - done, off + (off_t)done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (n == 0) {
            /* pwrite of a nonzero length that writes nothing and reports no error: treat
             * it as the full disk it almost certainly is rather than spin. */
            errno = ENOSPC;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

int io_pread_full(const struct io_ops *io, int fd, void *buf, size_t len, off_t off, size_t *got)
{
    char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = io->pread(fd, p + done, len - done, off + (off_t)done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (n == 0) {
            break; /* end of file */
        }
        done += (size_t)n;
    }
    *got = done;
    return 0;
}

int io_fsync_dir(const struct io_ops *io, const char *dir)
{
    int fd = io->open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (io->fsync(fd) != 0) {
        int saved = errno;
        io->close(fd);
        errno = saved;
        return -1;
    }
    return io->close(fd);
}

/* Creates one directory, accepting one that already exists (but not another kind of file). */
static int mkdir_one(const char *path, mode_t mode)
{
    struct stat st;
    if (mkdir(path, mode) == 0) {
        return 0;
    }
    if (errno != EEXIST) {
        return -1;
    }
    if (stat(path, &st) != 0) {
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int io_mkdir_p(const char *path)
{
    char buf[IO_PATH_MAX];
    size_t len = strlen(path);
    if (len == 0) {
        errno = ENOENT;
        return -1;
    }
    if (len >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    while (len > 1 && buf[len - 1] == '/') {
        buf[--len] = '\0';
    }
    /* Parents get the usual 0755; only the last component, the one jiaozi owns, is 0700. */
    for (size_t i = 1; i < len; i++) {
        if (buf[i] == '/' && buf[i - 1] != '/') {
            buf[i] = '\0';
            if (mkdir_one(buf, 0755) != 0) {
                return -1;
            }
            buf[i] = '/';
        }
    }
    return mkdir_one(buf, 0700);
}
