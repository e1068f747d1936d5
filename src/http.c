/*
 * http.c: the HTTP/1.1 server of the API on h2o's event loop (see http.h).
 *
 * Each loop thread parses requests and hands them to the api without waiting:
 *   - a transfer or a batch in plain form is authenticated, read and submitted to the
 *     executor right on the loop (api_handle_start); when the journal thread has made it
 *     durable it posts a message to the loop, which writes the answer (api_finish);
 *   - anything else goes to a small pool of worker threads that may block (api_handle),
 *     which post the answer back the same way;
 *   - /healthz, /metrics and the OpenAPI document are answered on the loop at once.
 * h2o batches the cross-thread wake-ups (one pipe write per burst), so a thousand requests
 * made durable by one fsync cost the loop one wake-up.
 *
 * A request h2o frees while it is pending (the client went away) is detected through a
 * guard in its memory pool: the answer is then dropped.
 */
#define H2O_USE_LIBUV 0
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <h2o.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tls_front.h"

#define PATH_BYTES 4096
/* Bodies above this are refused by h2o itself (413); up to it, the api answers
 * body_too_large past each route's own limit (1 MiB, a batch 4 MiB). */
#define HTTP_ENTITY_MAX (16u << 20)
#define HTTP_LOOPS_MAX 8
#define HTTP_CONNS_MAX 65536

struct loop;

/* One request that left the loop: pending in the executor or with a worker. */
struct job {
    h2o_multithread_message_t msg;
    struct loop *loop;
    h2o_req_t *req;       /* NULL once h2o disposed of the request */
    struct job **guard;   /* in req->pool: cleared when the pool goes */
    struct api_pending *pending;
    struct api_response resp;
    struct timespec t0;
    char method[16];
    char path[PATH_BYTES];
    /* Blocking jobs own a copy of what the worker reads. */
    struct api_request areq;
    char *copy;
    struct job *next;
};

struct loop {
    h2o_context_t ctx; /* first: req->conn->ctx points here */
    h2o_accept_ctx_t accept_ctx;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t done_rx; /* answers */
    h2o_multithread_receiver_t ctl_rx;  /* stop accepting, then stop */
    h2o_multithread_message_t ctl_msg[2];
    int ctl_sent;
    h2o_socket_t *listener;
    int listen_fd;
    pthread_t thread;
    http_server *s;
    atomic_bool stop;
    uint8_t fds[HTTP_CONNS_MAX / 8]; /* accepted sockets (a bit each), for shutdown */
};

struct http_server {
    struct http_config cfg;
    h2o_globalconf_t config;
    struct loop *loops[HTTP_LOOPS_MAX];
    int nloops;
    int port;       /* what clients connect to (the TLS front's, with TLS) */
    int port_plain; /* h2o's own listening port */
    atomic_long inflight; /* jobs not yet answered */
    /* The worker pool for requests that may block. */
    pthread_t *workers;
    int nworkers;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct job *head, *tail;
    bool stopping;
    crypto_tls_server *tls; /* NULL for plain HTTP */
    tls_front *front;
};

/* ---- Requests ---- */

static bool path_chars_ok(const char *p)
{
    for (; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '.' || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* The path as sent, refused (as an unroutable "/?") when it holds what no route has: dot
 * segments, empty segments, percent-escapes or characters outside [A-Za-z0-9._-/]. */
static const char *checked_path(const char *p)
{
    if (strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../")) {
        return "/?";
    }
    size_t n = strlen(p);
    if ((n >= 2 && strcmp(p + n - 2, "/.") == 0) || (n >= 3 && strcmp(p + n - 3, "/..") == 0)) {
        return "/?";
    }
    return path_chars_ok(p) ? p : "/?";
}

/* A header's value as a NUL-terminated string in the request's pool, or NULL. */
static const char *header(h2o_req_t *req, const char *lower_name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, lower_name, strlen(lower_name), -1);
    if (i < 0) {
        return NULL;
    }
    h2o_iovec_t v = req->headers.entries[i].value;
    return h2o_strdup(&req->pool, v.base, v.len).base;
}

/* Fills q from req; strings live in req->pool (or in job->path / job->method). */
static void read_request(h2o_req_t *req, struct job *j, struct api_request *q)
{
    size_t plen = req->path.len < PATH_BYTES - 1 ? req->path.len : PATH_BYTES - 1;
    size_t qat = req->query_at < plen ? req->query_at : plen;
    char *pq = h2o_mem_alloc_pool(&req->pool, plen + 1);
    memcpy(pq, req->path.base, plen);
    pq[plen] = '\0';
    memcpy(j->path, pq, qat);
    j->path[qat] = '\0';
    snprintf(j->method, sizeof j->method, "%.*s", (int)req->method.len, req->method.base);
    const char *path = checked_path(j->path);
    if (path != j->path) {
        snprintf(j->path, sizeof j->path, "%s", path);
    }
    size_t limit = api_body_limit(j->path);
    *q = (struct api_request){
        .method = j->method,
        .path = j->path,
        .query = qat < plen ? pq + qat + 1 : "",
        .path_and_query = pq,
        .content_type = header(req, "content-type"),
        .key = header(req, "x-jz-key"),
        .timestamp = header(req, "x-jz-timestamp"),
        .nonce = header(req, "x-jz-nonce"),
        .signature = header(req, "x-jz-signature"),
        .cookie = header(req, "cookie"),
        .csrf = header(req, "x-csrf-token"),
        .body = req->entity.base ? req->entity.base : "",
        .body_len = req->entity.base ? req->entity.len : 0,
    };
    q->body_too_large = q->body_len > limit;
}

/* A copy of q the job owns, for a worker thread (h2o may free the request meanwhile). */
static int copy_request(struct job *j, const struct api_request *q)
{
    const char *strs[] = {q->query, q->path_and_query, q->content_type, q->key, q->timestamp,
                          q->nonce, q->signature, q->cookie, q->csrf};
    size_t total = q->body_len + 1;
    for (size_t i = 0; i < JZ_ARRAY_LEN(strs); i++) {
        total += strs[i] ? strlen(strs[i]) + 1 : 0;
    }
    char *p = malloc(total);
    if (!p) {
        return -1;
    }
    j->copy = p;
    const char **outs[] = {&j->areq.query, &j->areq.path_and_query, &j->areq.content_type,
                           &j->areq.key, &j->areq.timestamp, &j->areq.nonce,
                           &j->areq.signature, &j->areq.cookie, &j->areq.csrf};
    j->areq = *q;
    for (size_t i = 0; i < JZ_ARRAY_LEN(strs); i++) {
        if (strs[i]) {
            size_t n = strlen(strs[i]) + 1;
            memcpy(p, strs[i], n);
            *outs[i] = p;
            p += n;
        }
    }
    memcpy(p, q->body, q->body_len);
    p[q->body_len] = '\0';
    j->areq.body = p;
    j->areq.method = j->method;
    j->areq.path = j->path;
    return 0;
}

/* ---- Answers ---- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return "Internal Server Error";
    }
}

static void add(h2o_req_t *req, const char *name, const char *value)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, strlen(value));
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 1, NULL, v.base,
                          v.len);
}

static void log_request(h2o_req_t *req, const struct job *j, int status, size_t bytes)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - j->t0.tv_sec) * 1e3 +
                (double)(t1.tv_nsec - j->t0.tv_nsec) / 1e6;
    char remote[64] = "";
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (sl > 0) {
        getnameinfo((struct sockaddr *)&ss, sl, remote, sizeof remote, NULL, 0, NI_NUMERICHOST);
    }
    const char *route = api_route_name(j->method, j->path);
    /* One line a request: no secrets, no bodies, no query (it may carry cursors only). */
    fprintf(stderr,
            "{\"level\":\"info\",\"msg\":\"request\",\"method\":\"%s\",\"route\":\"%s\","
            "\"status\":%d,\"ms\":%.3f,\"bytes\":%zu,\"remote\":\"%s\"}\n",
            j->method, route[0] ? route : "unknown", status, ms, bytes, remote);
}

static void send_response(h2o_req_t *req, struct job *j, const struct api_response *resp,
                          bool log)
{
    req->res.status = resp->status;
    req->res.reason = reason(resp->status);
    req->res.content_length = resp->body.len;
    add(req, "content-type", resp->content_type);
    add(req, "cache-control", "no-store");
    if (resp->allow) {
        add(req, "allow", resp->allow);
    }
    if (resp->retry_after_s > 0) {
        char n[16];
        snprintf(n, sizeof n, "%d", resp->retry_after_s);
        add(req, "retry-after", n);
    }
    if (resp->set_cookie[0]) {
        add(req, "set-cookie", resp->set_cookie);
    }
    if (resp->page) {
        /* The console's pages: its own scripts only, no framing, no sniffing. */
        add(req, "content-security-policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
            "form-action 'self'; base-uri 'none'");
        add(req, "x-frame-options", "DENY");
        add(req, "x-content-type-options", "nosniff");
        add(req, "referrer-policy", "no-referrer");
    }
    if (log) {
        log_request(req, j, resp->status, resp->body.len);
    }
    h2o_send_inline(req, resp->body.p ? resp->body.p : "", resp->body.len);
}

static void job_free(struct job *j)
{
    api_response_free(&j->resp);
    free(j->copy);
    free(j);
}

static void on_req_disposed(void *p)
{
    struct job **guard = p;
    if (*guard) {
        (*guard)->req = NULL;
    }
}

/* On the loop: answers whose work finished on another thread. */
static void on_done_messages(h2o_multithread_receiver_t *rx, h2o_linklist_t *msgs)
{
    (void)rx;
    while (!h2o_linklist_is_empty(msgs)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, msgs->next);
        h2o_linklist_unlink(&m->link);
        struct job *j = H2O_STRUCT_FROM_MEMBER(struct job, msg, m);
        if (j->pending) {
            api_finish(j->pending, &j->resp);
            j->pending = NULL;
        }
        if (j->req) {
            *j->guard = NULL;
            send_response(j->req, j, &j->resp, j->loop->s->cfg.log_requests);
        }
        atomic_fetch_sub(&j->loop->s->inflight, 1);
        job_free(j);
    }
}

/* Journal thread: a pending request is durable. */
static void on_durable(void *ctx)
{
    struct job *j = ctx;
    h2o_multithread_send_message(&j->loop->done_rx, &j->msg);
}

/* ---- The worker pool ---- */

static void *worker_main(void *arg)
{
    http_server *s = arg;
    pthread_setname_np(pthread_self(), "jz-http-worker");
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stopping) {
            pthread_cond_wait(&s->cond, &s->mu);
        }
        struct job *j = s->head;
        if (!j) {
            break;
        }
        s->head = j->next;
        if (!s->head) {
            s->tail = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        api_handle(s->cfg.api, &j->areq, &j->resp);
        h2o_multithread_send_message(&j->loop->done_rx, &j->msg);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void to_worker(http_server *s, struct job *j)
{
    pthread_mutex_lock(&s->mu);
    j->next = NULL;
    if (s->tail) {
        s->tail->next = j;
    } else {
        s->head = j;
    }
    s->tail = j;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static int bound_port(int fd);

/* ---- The loop ---- */

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    struct loop *l = (struct loop *)req->conn->ctx;
    http_server *s = l->s;
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        h2o_send_error_503(req, "Service Unavailable", "out of memory", 0);
        return 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &j->t0);
    j->loop = l;
    struct api_request q;
    read_request(req, j, &q);
    int rc = api_handle_start(s->cfg.api, &q, &j->resp, on_durable, j, &j->pending);
    if (rc == API_BLOCKING && copy_request(j, &q) != 0) {
        api_handle(s->cfg.api, &q, &j->resp); /* no memory to hand it over: answer here */
        rc = API_DONE;
    }
    if (rc == API_DONE) {
        send_response(req, j, &j->resp, s->cfg.log_requests);
        job_free(j);
        return 0;
    }
    j->req = req;
    j->guard = h2o_mem_alloc_shared(&req->pool, sizeof *j->guard, on_req_disposed);
    *j->guard = j;
    atomic_fetch_add(&s->inflight, 1);
    if (rc == API_BLOCKING) {
        to_worker(s, j);
    }
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct loop *l = listener->data;
    h2o_socket_t *sock;
    if (err || !(sock = h2o_evloop_socket_accept(listener))) {
        return;
    }
    int fd = h2o_socket_get_fd(sock);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fd >= 0 && fd < HTTP_CONNS_MAX) {
        l->fds[fd / 8] |= (uint8_t)(1u << (fd % 8));
    }
    h2o_accept(&l->accept_ctx, sock);
}

/* Shuts down every socket this loop accepted that is still one of ours (an fd number may
 * have been reused since: only a socket whose local port is the server's is touched), so
 * h2o sees them close and frees its connections before the loop ends. */
static void close_connections(struct loop *l)
{
    int port = l->s->port_plain;
    for (int fd = 0; fd < HTTP_CONNS_MAX; fd++) {
        if (!(l->fds[fd / 8] & (1u << (fd % 8)))) {
            continue;
        }
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && bound_port(fd) == port) {
            shutdown(fd, SHUT_RDWR);
        }
    }
    memset(l->fds, 0, sizeof l->fds);
}

/* Control messages: the first stops accepting, the second stops the loop. */
static void on_ctl_messages(h2o_multithread_receiver_t *rx, h2o_linklist_t *msgs)
{
    struct loop *l = H2O_STRUCT_FROM_MEMBER(struct loop, ctl_rx, rx);
    while (!h2o_linklist_is_empty(msgs)) {
        h2o_linklist_unlink(msgs->next);
        if (l->listener) {
            h2o_socket_read_stop(l->listener);
            h2o_socket_close(l->listener);
            l->listener = NULL;
            continue;
        }
        close_connections(l);
        atomic_store(&l->stop, true);
    }
}

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    pthread_setname_np(pthread_self(), "jz-http-loop");
    while (!atomic_load(&l->stop)) {
        h2o_evloop_run(l->ctx.loop, 100);
    }
    /* Let h2o notice the closed connections and release them. */
    for (int i = 0; i < 50 && !h2o_linklist_is_empty(&l->ctx.http1._conns); i++) {
        h2o_evloop_run(l->ctx.loop, 10);
    }
    return NULL;
}

static int loop_start(http_server *s, int fd, struct loop **out)
{
    struct loop *l = calloc(1, sizeof *l);
    if (!l) {
        return -1;
    }
    l->s = s;
    h2o_context_init(&l->ctx, h2o_evloop_create(), &s->config);
    l->accept_ctx.ctx = &l->ctx;
    l->accept_ctx.hosts = s->config.hosts;
    l->queue = h2o_multithread_create_queue(l->ctx.loop);
    h2o_multithread_register_receiver(l->queue, &l->done_rx, on_done_messages);
    h2o_multithread_register_receiver(l->queue, &l->ctl_rx, on_ctl_messages);
    l->listen_fd = fd;
    l->listener = h2o_evloop_socket_create(l->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    l->listener->data = l;
    h2o_socket_read_start(l->listener, on_accept);
    if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
        return -1;
    }
    *out = l;
    return 0;
}

static void loop_free(struct loop *l)
{
    h2o_multithread_unregister_receiver(l->queue, &l->done_rx);
    h2o_multithread_unregister_receiver(l->queue, &l->ctl_rx);
    h2o_multithread_destroy_queue(l->queue);
    h2o_context_dispose(&l->ctx);
    free(l);
}

static void loop_control(struct loop *l)
{
    h2o_multithread_message_t *m = &l->ctl_msg[l->ctl_sent++];
    memset(m, 0, sizeof *m);
    h2o_multithread_send_message(&l->ctl_rx, m);
}

/* ---- Listening ---- */

static bool is_loopback(const char *listen)
{
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "localhost:", 10) == 0 ||
           strncmp(listen, "[::1]:", 6) == 0;
}

/* A listening, non-blocking socket for "host:port" ("[v6]:port"). */
static int listen_on(const char *addr, char *err, size_t err_len)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof host) {
        snprintf(err, err_len, "listen address %s: want HOST:PORT", addr);
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host) - 2);
        host[strlen(host) - 2] = '\0';
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res) {
        snprintf(err, err_len, "listen address %s: cannot resolve", addr);
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, err_len, "cannot listen on %s: %s", addr, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        return 0;
    }
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

int http_start(const struct http_config *cfg, http_server **out, char *err, size_t err_len)
{
    bool tls = cfg->tls_cert != NULL;
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
        snprintf(err, err_len, "--tls-cert and --tls-key go together");
        return -1;
    }
    if (!tls && !cfg->insecure && !is_loopback(cfg->listen)) {
        snprintf(err, err_len, "refusing to serve plain HTTP on %s: give --tls-cert and "
                 "--tls-key, or --insecure", cfg->listen);
        return -1;
    }
    http_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    s->cfg = *cfg;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (tls && crypto_tls_server_new(cfg->tls_cert, cfg->tls_key, &s->tls, err, err_len) != 0) {
        free(s);
        return -1;
    }
    /* With TLS, h2o serves only the relay from the TLS front, on loopback. */
    int fd = listen_on(tls ? "127.0.0.1:0" : cfg->listen, err, err_len);
    if (fd < 0) {
        crypto_tls_server_free(s->tls);
        free(s);
        return -1;
    }
    s->port = s->port_plain = bound_port(fd);
    h2o_config_init(&s->config);
    s->config.server_name = h2o_iovec_init(H2O_STRLIT("jiaozi"));
    s->config.max_request_entity_size = HTTP_ENTITY_MAX;
    s->config.http1.req_timeout = 60000;
    h2o_hostconf_t *host = h2o_config_register_host(&s->config,
                                                    h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_create_handler(path, sizeof(h2o_handler_t))->on_req = on_req;
    int workers = cfg->threads > 0 ? cfg->threads : 64;
    int loops = cfg->loops > 0 ? (cfg->loops < HTTP_LOOPS_MAX ? cfg->loops : HTTP_LOOPS_MAX) : 1;
    s->workers = calloc((size_t)workers, sizeof *s->workers);
    int rc = s->workers ? 0 : -1;
    for (; rc == 0 && s->nworkers < workers; s->nworkers++) {
        rc = pthread_create(&s->workers[s->nworkers], NULL, worker_main, s);
        if (rc != 0) {
            break;
        }
    }
    for (; rc == 0 && s->nloops < loops; s->nloops++) {
        int lfd = s->nloops == 0 ? fd : dup(fd);
        rc = lfd >= 0 ? loop_start(s, lfd, &s->loops[s->nloops]) : -1;
        if (rc != 0) {
            break;
        }
    }
    if (rc == 0 && tls &&
        tls_front_start(cfg->listen, s->port, s->tls, s->nworkers, &s->front, err, err_len) == 0) {
        s->port = tls_front_port(s->front);
    } else if (rc == 0 && tls) {
        rc = -1;
    }
    if (rc != 0) {
        if (!err[0]) {
            snprintf(err, err_len, "cannot start the HTTP threads");
        }
        http_stop(s);
        return -1;
    }
    *out = s;
    return 0;
}

int http_port(const http_server *s)
{
    return s->port;
}

void http_stop(http_server *s)
{
    if (!s) {
        return;
    }
    tls_front_stop(s->front); /* no new TLS connections; open ones are closed */
    for (int i = 0; i < s->nloops; i++) {
        loop_control(s->loops[i]); /* stop accepting */
    }
    /* In-flight requests finish and are answered (the executor still runs). */
    for (int i = 0; i < 30000 && atomic_load(&s->inflight) > 0; i++) {
        usleep(1000);
    }
    for (int i = 0; i < s->nloops; i++) {
        loop_control(s->loops[i]); /* close connections and stop */
        pthread_join(s->loops[i]->thread, NULL);
    }
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->nworkers; i++) {
        pthread_join(s->workers[i], NULL);
    }
    for (int i = 0; i < s->nloops; i++) {
        loop_free(s->loops[i]);
    }
    if (s->config.hosts) {
        h2o_config_dispose(&s->config);
    }
    crypto_tls_server_free(s->tls);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    free(s->workers);
    free(s);
}
