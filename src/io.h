/*
 * io.h: the file operations jiaozi's storage modules use, behind a function table.
 *
 * The journal and snapshots never call the OS directly: they call through a `struct io_ops`,
 * so tests can fail the Nth write, fsync or rename (SQLite's approach to fault injection)
 * and check that nothing acknowledged is lost. `io_posix` is the real thing; `io_faulty`
 * forwards to it until the configured call fails. All functions keep errno semantics.
 */
#ifndef JZ_IO_H
#define JZ_IO_H

#include <stdbool.h>
#include <sys/types.h>

struct io_ops {
    int (*open)(const char *path, int flags, mode_t mode);
    int (*close)(int fd);
    ssize_t (*pread)(int fd, void *buf, size_t len, off_t off);
    ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
    int (*fsync)(int fd);     /* file data and metadata */
    int (*fdatasync)(int fd); /* file data (and size changes) */
    int (*ftruncate)(int fd, off_t len);
    int (*rename)(const char *from, const char *to);
    int (*unlink)(const char *path);
};

extern const struct io_ops io_posix;

/* Fault injection. The kinds of call that can be made to fail: */
enum io_fault_kind {
    IO_FAULT_WRITE = 0, /* pwrite */
    IO_FAULT_SYNC = 1,  /* fsync and fdatasync */
    IO_FAULT_RENAME = 2,
    IO_FAULT_OPEN = 3,
    IO_FAULT_KINDS = 4
};

/* io_faulty behaves as io_posix except that the nth call (1-based) of `kind` after
 * io_fault_arm fails with EIO (ENOSPC for writes: a short write of half the bytes first,
 * as a full disk does), and so does every later call of that kind until io_fault_disarm.
 * Process-wide; not for concurrent use from several tests. */
extern const struct io_ops io_faulty;
void io_fault_arm(enum io_fault_kind kind, long nth);
void io_fault_disarm(void);
/* Calls of `kind` made through io_faulty since the last arm (or since start). */
long io_fault_calls(enum io_fault_kind kind);
/* True once the armed fault has fired. */
bool io_fault_fired(void);

/* Helpers built on an io_ops table. Each returns 0 or -1 with errno set. */
/* Writes all len bytes at off (retrying short writes and EINTR). */
int io_pwrite_all(const struct io_ops *io, int fd, const void *buf, size_t len, off_t off);
/* Reads up to len bytes at off; *got receives the count (short only at end of file). */
int io_pread_full(const struct io_ops *io, int fd, void *buf, size_t len, off_t off, size_t *got);
/* fsyncs a directory so that a create or rename inside it is durable. */
int io_fsync_dir(const struct io_ops *io, const char *dir);
/* mkdir -p with mode 0700 for the last component. */
int io_mkdir_p(const char *path);

#endif
