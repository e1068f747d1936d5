/*
 * metrics.h: counters and histograms for /metrics (Prometheus text format 0.0.4).
 *
 * Everything is a fixed array of atomic counters: recording costs one or two relaxed atomic
 * adds, takes no lock and never allocates, so the HTTP workers, executor and journal thread
 * can all record freely.
 */
#ifndef JZ_METRICS_H
#define JZ_METRICS_H

#include <stdatomic.h>

#include "json.h"

/* Buckets are upper bounds; the last is +Inf. */
#define METRICS_BUCKETS_MAX 16

struct metrics_histogram {
    const double *bounds; /* bucket upper bounds (in the unit the name says) */
    int nbounds;
    _Atomic uint64_t counts[METRICS_BUCKETS_MAX + 1];
    _Atomic uint64_t sum_micro; /* sum in millionths of the unit */
    _Atomic uint64_t count;
};

void metrics_histogram_init(struct metrics_histogram *h, const double *bounds, int nbounds);
/* value_micro: the observation in millionths of the unit (µs for a histogram in seconds). */
void metrics_observe(struct metrics_histogram *h, uint64_t value_micro);
/* Appends the histogram named `name` with optional labels ("route=\"x\"" or "") to b. */
void metrics_write_histogram(struct jbuf *b, const char *name, const char *help,
                             const char *labels, const struct metrics_histogram *h,
                             bool with_header);
void metrics_write_counter(struct jbuf *b, const char *name, const char *help, uint64_t value);
void metrics_write_gauge(struct jbuf *b, const char *name, const char *help, int64_t value);

/* Bounds for latencies in seconds (100 µs .. 10 s) and for batch sizes (commands). */
extern const double metrics_latency_bounds[];
extern const int metrics_latency_nbounds;
extern const double metrics_size_bounds[];
extern const int metrics_size_nbounds;

#endif
