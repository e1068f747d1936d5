/*
 * metrics.c: lock-free counters and histograms, written as Prometheus text (see metrics.h).
 */
#include "metrics.h"

#include <inttypes.h>

const double metrics_latency_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                         0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
const int metrics_latency_nbounds = (int)JZ_ARRAY_LEN(metrics_latency_bounds);
const double metrics_size_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096,
                                      8190};
const int metrics_size_nbounds = (int)JZ_ARRAY_LEN(metrics_size_bounds);

void metrics_histogram_init(struct metrics_histogram *h, const double *bounds, int nbounds)
{
    ASSERT(nbounds <= METRICS_BUCKETS_MAX);
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->nbounds = nbounds;
}

void metrics_observe(struct metrics_histogram *h, uint64_t value_micro)
{
    int i = 0;
    while (i < h->nbounds && (double)value_micro > h->bounds[i] * 1e6) {
        i++;
    }
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_micro, value_micro, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

static void write_line(struct jbuf *b, const char *name, const char *suffix, const char *labels,
                       const char *extra_label, const char *value)
{
    char line[512];
    bool any = labels[0] || extra_label[0];
    snprintf(line, sizeof line, "%s%s%s%s%s%s%s %s\n", name, suffix, any ? "{" : "", labels,
             labels[0] && extra_label[0] ? "," : "", extra_label, any ? "}" : "", value);
    jb_lit(b, line);
}

void metrics_write_histogram(struct jbuf *b, const char *name, const char *help,
                             const char *labels, const struct metrics_histogram *h,
                             bool with_header)
{
    char value[64];
    char le[64];
    if (with_header) {
        char head[512];
        snprintf(head, sizeof head, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
        jb_lit(b, head);
    }
    uint64_t cumulative = 0;
    for (int i = 0; i <= h->nbounds; i++) {
        cumulative += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (i < h->nbounds) {
            snprintf(le, sizeof le, "le=\"%g\"", h->bounds[i]);
        } else {
            snprintf(le, sizeof le, "le=\"+Inf\"");
        }
        snprintf(value, sizeof value, "%" PRIu64, cumulative);
        write_line(b, name, "_bucket", labels, le, value);
    }
    uint64_t sum = atomic_load_explicit(&h->sum_micro, memory_order_relaxed);
    snprintf(value, sizeof value, "%" PRIu64 ".%06" PRIu64, sum / 1000000, sum % 1000000);
    write_line(b, name, "_sum", labels, "", value);
    /* _count equals the +Inf bucket read above, so the exposition stays consistent even
     * while other threads keep observing. */
    snprintf(value, sizeof value, "%" PRIu64, cumulative);
    write_line(b, name, "_count", labels, "", value);
}

void metrics_write_counter(struct jbuf *b, const char *name, const char *help, uint64_t value)
{
    char text[512];
    snprintf(text, sizeof text, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help,
             name, name, value);
    jb_lit(b, text);
}

void metrics_write_gauge(struct jbuf *b, const char *name, const char *help, int64_t value)
{
    char text[512];
    snprintf(text, sizeof text, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRId64 "\n", name, help,
             name, name, value);
    jb_lit(b, text);
}
