/* h2o 2.2.5 (libh2o-evloop) trial server: POST /echo -> 201 JSON.
 * One h2o_evloop + h2o_context per thread, each with its own SO_REUSEPORT listener.
 * Deferred: the handler returns without answering; the executor posts an
 * h2o_multithread message to the owning loop's receiver, which calls h2o_send_inline.
 * A pool-disposal hook guards against the request being freed while it is pending. */
#define H2O_USE_LIBUV 0
#include "common.h"
#include <h2o.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct worker {
    h2o_context_t ctx; /* first: req->conn->ctx points here */
    h2o_accept_ctx_t accept_ctx;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t receiver;
    int port;
};
struct hjob {
    struct job job;
    h2o_multithread_message_t msg;
    struct worker *w;
    h2o_req_t *req;          /* NULL once h2o disposed the request */
    struct hjob **guard;     /* lives in req->pool */
};
static h2o_globalconf_t g_config;
static int g_deferred;

static void reply(h2o_req_t *req)
{
    req->res.status = 201;
    req->res.reason = "Created";
    req->res.content_length = REPLY_LEN;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_send_inline(req, REPLY, REPLY_LEN);
}

static void on_req_disposed(void *p) /* loop thread */
{
    struct hjob **guard = p;
    if (*guard) (*guard)->req = NULL;
}

static void on_durable(struct job *j) /* executor thread */
{
    struct hjob *hj = (struct hjob *)j;
    h2o_multithread_send_message(&hj->w->receiver, &hj->msg);
}

static void on_messages(h2o_multithread_receiver_t *r, h2o_linklist_t *msgs) /* loop thread */
{
    (void)r;
    while (!h2o_linklist_is_empty(msgs)) {
        h2o_multithread_message_t *m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, msgs->next);
        h2o_linklist_unlink(&m->link);
        struct hjob *hj = H2O_STRUCT_FROM_MEMBER(struct hjob, msg, m);
        if (hj->req) {
            *hj->guard = NULL;
            reply(hj->req);
        }
        free(hj);
    }
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) return -1;
    volatile uint64_t h = body_digest(req->entity.base, req->entity.len);
    (void)h;
    if (!g_deferred) { reply(req); return 0; }
    struct hjob *hj = calloc(1, sizeof *hj);
    hj->w = (struct worker *)req->conn->ctx;
    hj->req = req;
    hj->guard = h2o_mem_alloc_shared(&req->pool, sizeof *hj->guard, on_req_disposed);
    *hj->guard = hj;
    hj->job.done = on_durable;
    exec_submit(&hj->job);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_socket_t *sock;
    if (err || !(sock = h2o_evloop_socket_accept(listener))) return;
    h2o_accept(&((struct worker *)listener->data)->accept_ctx, sock);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    h2o_context_init(&w->ctx, h2o_evloop_create(), &g_config);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = g_config.hosts;
    w->queue = h2o_multithread_create_queue(w->ctx.loop);
    h2o_multithread_register_receiver(w->queue, &w->receiver, on_messages);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)w->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 1024)) { perror("listen"); exit(1); }
    h2o_socket_t *ls = h2o_evloop_socket_create(w->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    ls->data = w;
    h2o_socket_read_start(ls, on_accept);
    while (h2o_evloop_run(w->ctx.loop, INT32_MAX) == 0) {}
    return NULL;
}

int main(int argc, char **argv)
{
    struct opts o = parse_opts(argc, argv, "reuseport");
    g_deferred = o.deferred;
    h2o_config_init(&g_config);
    h2o_hostconf_t *host = h2o_config_register_host(&g_config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/echo", 0);
    h2o_create_handler(path, sizeof(h2o_handler_t))->on_req = on_req;
    pthread_t tids[64];
    for (int i = 0; i < o.threads && i < 64; i++) {
        struct worker *w = calloc(1, sizeof *w);
        w->port = o.port;
        pthread_create(&tids[i], NULL, worker_main, w);
    }
    for (int i = 0; i < o.threads && i < 64; i++) pthread_join(tids[i], NULL);
    return 0;
}
