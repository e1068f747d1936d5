/* libevent 2.1.12 evhttp trial server: POST /echo -> 201 JSON.
 * One event_base + evhttp per thread, each with its own SO_REUSEPORT listener.
 * Deferred: the handler keeps the evhttp_request; the executor pushes it onto the owning
 * worker's completion list and event_active()s a wake-up event (evthread_use_pthreads makes
 * that thread-safe); the worker then calls evhttp_send_reply on its own thread. */
#include "common.h"
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

struct worker {
    struct event_base *base;
    struct event *wake;
    pthread_mutex_t mu;
    struct ereq *done; /* completed by the executor, to answer on this thread */
};
struct ereq {
    struct job job;
    struct evhttp_request *req;
    struct worker *w;
    struct ereq *next_done;
};
static int g_deferred;

static void reply(struct evhttp_request *req)
{
    evbuffer_add(evhttp_request_get_output_buffer(req), REPLY, REPLY_LEN);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 201, "Created", NULL);
}

static void on_durable(struct job *j) /* executor thread */
{
    struct ereq *e = (struct ereq *)j;
    struct worker *w = e->w;
    pthread_mutex_lock(&w->mu);
    e->next_done = w->done;
    w->done = e;
    pthread_mutex_unlock(&w->mu);
    event_active(w->wake, EV_READ, 0);
}

static void on_wake(evutil_socket_t fd, short what, void *arg) /* worker thread */
{
    (void)fd; (void)what;
    struct worker *w = arg;
    pthread_mutex_lock(&w->mu);
    struct ereq *e = w->done;
    w->done = NULL;
    pthread_mutex_unlock(&w->mu);
    while (e) {
        struct ereq *n = e->next_done;
        reply(e->req);
        free(e);
        e = n;
    }
}

static void on_req(struct evhttp_request *req, void *arg)
{
    struct worker *w = arg;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_send_error(req, 405, NULL);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    volatile uint64_t h = body_digest((const char *)evbuffer_pullup(in, -1), n);
    (void)h;
    if (!g_deferred) { reply(req); return; }
    struct ereq *e = malloc(sizeof *e);
    e->req = req;
    e->w = w;
    e->job.done = on_durable;
    exec_submit(&e->job);
}

static void *worker_main(void *arg)
{
    event_base_dispatch(((struct worker *)arg)->base);
    return NULL;
}

int main(int argc, char **argv)
{
    struct opts o = parse_opts(argc, argv, "reuseport");
    g_deferred = o.deferred;
    evthread_use_pthreads(); /* before any base is created */
    pthread_t tids[64];
    for (int i = 0; i < o.threads && i < 64; i++) {
        struct worker *w = calloc(1, sizeof *w);
        pthread_mutex_init(&w->mu, NULL);
        w->base = event_base_new();
        w->wake = event_new(w->base, -1, 0, on_wake, w);
        struct evhttp *http = evhttp_new(w->base);
        evhttp_set_cb(http, "/echo", on_req, w);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 1024) ||
            evhttp_accept_socket(http, fd)) {
            perror("listen");
            return 1;
        }
        pthread_create(&tids[i], NULL, worker_main, w);
    }
    for (int i = 0; i < o.threads && i < 64; i++) pthread_join(tids[i], NULL);
    return 0;
}
