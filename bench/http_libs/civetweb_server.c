/* civetweb 1.15 trial server: POST /echo -> 201 JSON.
 * civetweb serves each connection on one worker thread for as long as it stays open
 * (keep-alive), so num_threads must be at least the number of client connections.
 * Deferred: the worker simply blocks on a condition variable until the executor completes. */
#include "common.h"
#include <civetweb.h>
#include <unistd.h>

struct cjob {
    struct job job;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int durable;
};
static int g_deferred, g_raw;

static void on_durable(struct job *j) /* executor thread */
{
    struct cjob *c = (struct cjob *)j;
    pthread_mutex_lock(&c->mu);
    c->durable = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static int on_req(struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (strcmp(ri->request_method, "POST") != 0) return 0;
    char body[4096];
    size_t n = 0;
    int k;
    while (n < sizeof body && (k = mg_read(conn, body + n, sizeof body - n)) > 0) n += (size_t)k;
    volatile uint64_t h = body_digest(body, n);
    (void)h;
    if (g_deferred) {
        struct cjob c = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
        c.job.done = on_durable;
        pthread_mutex_lock(&c.mu);
        exec_submit(&c.job);
        while (!c.durable) pthread_cond_wait(&c.cv, &c.mu);
        pthread_mutex_unlock(&c.mu);
    }
    if (g_raw) { /* variant "raw": the whole response in one mg_write (one send) */
        char buf[512];
        int n2 = snprintf(buf, sizeof buf, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n%s", REPLY_LEN, REPLY);
        mg_write(conn, buf, (size_t)n2);
        return 201;
    }
    /* the documented API: sends the status line and each header separately */
    mg_response_header_start(conn, 201);
    mg_response_header_add(conn, "Content-Type", "application/json", -1);
    char len[16];
    snprintf(len, sizeof len, "%zu", REPLY_LEN);
    mg_response_header_add(conn, "Content-Length", len, -1);
    mg_response_header_send(conn);
    mg_write(conn, REPLY, REPLY_LEN);
    return 201;
}

int main(int argc, char **argv)
{
    struct opts o = parse_opts(argc, argv, "threads");
    g_deferred = o.deferred;
    g_raw = strcmp(o.variant, "raw") == 0;
    char port[32], nthreads[16];
    snprintf(port, sizeof port, "127.0.0.1:%d", o.port);
    snprintf(nthreads, sizeof nthreads, "%d", o.threads);
    const char *options[] = {"listening_ports", port, "num_threads", nthreads,
                             "enable_keep_alive", "yes", "tcp_nodelay", "1",
                             "listen_backlog", "1024", "connection_queue", "1024", NULL};
    mg_init_library(0);
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    struct mg_context *ctx = mg_start(&cb, NULL, options);
    if (!ctx) { fprintf(stderr, "mg_start failed\n"); return 1; }
    mg_set_request_handler(ctx, "/echo", on_req, NULL);
    pause();
    return 0;
}
