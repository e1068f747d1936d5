/*
 * projector.h: turns durable journal records into the history store (DESIGN.md §3), on its
 * own thread, off the executor's path. It follows the journal with a journal_reader, up to
 * the durable head the journal thread reports, and commits each run of records in one store
 * transaction together with the seq it reached, so it resumes exactly where it stopped.
 * `jiaozi reindex` runs the same projection from seq 1 into an empty store.
 */
#ifndef JZ_PROJECTOR_H
#define JZ_PROJECTOR_H

#include "store_sqlite.h"

typedef struct projector projector;

/* Starts following dir's journal into s (borrowed until projector_stop), from the seq after
 * the store's projected seq. */
int projector_start(const char *dir, store *s, uint64_t durable_seq, projector **out, char *err,
                    size_t err_len);
/* Records up to seq are durable (called from the journal thread: cheap, never blocks long). */
void projector_notify(projector *p, uint64_t durable_seq);
/* Waits until everything up to seq is projected, at most timeout_ms. 0 when it is. */
int projector_wait(projector *p, uint64_t seq, int timeout_ms);
uint64_t projector_projected_seq(projector *p);
uint64_t projector_durable_seq(projector *p);
/* Projects what is durable, then stops the thread. */
void projector_stop(projector *p);

/* Projects records [store's seq + 1, to_seq] of dir's journal into s, synchronously. */
int projector_catch_up(const char *dir, store *s, uint64_t to_seq, char *err, size_t err_len);

#endif
