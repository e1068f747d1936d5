/* libmicrohttpd 0.9.75 trial server: POST /echo -> 201 JSON.
 * Variants: "pool" = internal epoll thread pool and "turbo" = the same with MHD_USE_TURBO
 * (deferred: MHD_suspend_connection, the executor calls MHD_resume_connection); "tpc" =
 * thread per connection (deferred: the handler blocks on a condition variable until the
 * executor completes). */
#include "common.h"
#include <microhttpd.h>
#include <unistd.h>

struct req {
    struct job job;
    struct MHD_Connection *conn;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0 reading body, 1 with the executor, 2 durable */
    size_t n;
    char body[4096];
};
static int g_deferred, g_tpc;

static void done_resume(struct job *j)
{
    struct req *r = (struct req *)j;
    r->state = 2;
    MHD_resume_connection(r->conn); /* thread-safe: wakes the connection's poll thread */
}

static void done_signal(struct job *j)
{
    struct req *r = (struct req *)j;
    pthread_mutex_lock(&r->mu);
    r->state = 2;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static enum MHD_Result reply(struct MHD_Connection *c)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(REPLY_LEN, (void *)REPLY,
                                                                MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, 201, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **con_cls)
{
    (void)cls; (void)version;
    struct req *r = *con_cls;
    if (!r) {
        if (strcmp(url, "/echo") != 0 || strcmp(method, "POST") != 0) return MHD_NO;
        r = calloc(1, sizeof *r);
        r->conn = c;
        *con_cls = r;
        return MHD_YES;
    }
    if (*data_size) { /* a body chunk */
        size_t k = *data_size < sizeof r->body - r->n ? *data_size : sizeof r->body - r->n;
        memcpy(r->body + r->n, data, k);
        r->n += k;
        *data_size = 0;
        return MHD_YES;
    }
    if (r->state == 0) { /* body complete */
        volatile uint64_t h = body_digest(r->body, r->n);
        (void)h;
        if (!g_deferred) return reply(c);
        r->state = 1;
        if (g_tpc) {
            pthread_mutex_init(&r->mu, NULL);
            pthread_cond_init(&r->cv, NULL);
            r->job.done = done_signal;
            pthread_mutex_lock(&r->mu);
            exec_submit(&r->job);
            while (r->state != 2) pthread_cond_wait(&r->cv, &r->mu);
            pthread_mutex_unlock(&r->mu);
            return reply(c);
        }
        r->job.done = done_resume;
        MHD_suspend_connection(c);
        exec_submit(&r->job);
        return MHD_YES;
    }
    return reply(c); /* state 2: resumed after the executor completed */
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls; (void)c; (void)toe;
    struct req *r = *con_cls;
    if (r && g_tpc && r->state) { pthread_mutex_destroy(&r->mu); pthread_cond_destroy(&r->cv); }
    free(r);
    *con_cls = NULL;
}

int main(int argc, char **argv)
{
    struct opts o = parse_opts(argc, argv, "pool");
    g_deferred = o.deferred;
    g_tpc = strcmp(o.variant, "tpc") == 0;
    struct MHD_Daemon *d;
    if (g_tpc)
        d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                 MHD_USE_POLL,
                             (uint16_t)o.port, NULL, NULL, on_req, NULL,
                             MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
                             MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_END);
    else
        d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                                 MHD_ALLOW_SUSPEND_RESUME |
                                 (strcmp(o.variant, "turbo") == 0 ? MHD_USE_TURBO : 0),
                             (uint16_t)o.port, NULL, NULL, on_req, NULL,
                             MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o.threads,
                             MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
                             MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_END);
    if (!d) { fprintf(stderr, "MHD_start_daemon failed\n"); return 1; }
    pause();
    return 0;
}
