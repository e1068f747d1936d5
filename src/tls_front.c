/*
 * tls_front.c: TLS termination in front of the HTTP server (see tls_front.h).
 */
#include "tls_front.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define RELAY_BYTES 16384
#define HANDSHAKE_TIMEOUT_S 10

struct tls_front {
    int listen_fd;
    int port;
    int backend_port;
    int max_conns;
    crypto_tls_server *tls;
    pthread_t accept_thread;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    int *fds; /* open client sockets, so stop can shut them down */
    int active;
    atomic_bool stopping;
};

struct conn {
    tls_front *f;
    int fd;
};

static int listen_on(const char *addr, int *fd_out, int *port_out, char *err, size_t err_len)
{
    char host[256];
    snprintf(host, sizeof host, "%s", addr);
    char *colon = strrchr(host, ':');
    if (!colon) {
        snprintf(err, err_len, "--listen wants HOST:PORT, not %s", addr);
        return -1;
    }
    *colon = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    const char *h = host[0] == '[' ? host + 1 : host;
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        host[strlen(host) - 1] = '\0';
    }
    if (getaddrinfo(h, colon + 1, &hints, &ai) != 0 || !ai) {
        snprintf(err, err_len, "cannot resolve %s", addr);
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = fd >= 0 && bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0 ? 0
                                                                                            : -1;
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (rc != 0 || getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        snprintf(err, err_len, "cannot listen on %s: %s", addr, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    *port_out = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                               : ((struct sockaddr_in *)&sa)->sin_port);
    *fd_out = fd;
    return 0;
}

static int connect_backend(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return fd;
    }
    if (fd >= 0) {
        close(fd);
    }
    return -1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Relays until either side closes. */
static void relay(crypto_tls_conn *tls, int client_fd, int backend_fd)
{
    char buf[RELAY_BYTES];
    for (;;) {
        struct pollfd p[2] = {{.fd = client_fd, .events = POLLIN},
                              {.fd = backend_fd, .events = POLLIN}};
        if (crypto_tls_pending(tls) == 0 && poll(p, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        if (crypto_tls_pending(tls) > 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            int n = crypto_tls_read(tls, buf, sizeof buf);
            if (n <= 0 || write_all(backend_fd, buf, (size_t)n) != 0) {
                return;
            }
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(backend_fd, buf, sizeof buf, 0);
            if (n <= 0 || crypto_tls_write(tls, buf, (size_t)n) != 0) {
                return;
            }
        }
    }
}

static void conn_done(tls_front *f, int fd)
{
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->active; i++) {
        if (f->fds[i] == fd) {
            f->fds[i] = f->fds[--f->active];
            break;
        }
    }
    pthread_cond_broadcast(&f->idle);
    pthread_mutex_unlock(&f->mu);
    close(fd);
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    tls_front *f = c->f;
    int fd = c->fd;
    free(c);
    struct timeval tv = {.tv_sec = HANDSHAKE_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    crypto_tls_conn *tls = NULL;
    if (crypto_tls_accept(f->tls, fd, &tls) == 0) {
        struct timeval none = {0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
        int backend = connect_backend(f->backend_port);
        if (backend >= 0) {
            relay(tls, fd, backend);
            close(backend);
        }
        crypto_tls_conn_free(tls);
    }
    conn_done(f, fd);
    return NULL;
}

static void *accept_main(void *arg)
{
    tls_front *f = arg;
    pthread_setname_np(pthread_self(), "jz-tls-accept");
    while (!atomic_load(&f->stopping)) {
        int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            break; /* the listener was shut down */
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_mutex_lock(&f->mu);
        bool room = f->active < f->max_conns && !atomic_load(&f->stopping);
        if (room) {
            f->fds[f->active++] = fd;
        }
        pthread_mutex_unlock(&f->mu);
        struct conn *c = room ? malloc(sizeof *c) : NULL;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (c) {
            *c = (struct conn){.f = f, .fd = fd};
        }
        if (!c || pthread_create(&t, &attr, conn_main, c) != 0) {
            free(c);
            if (room) {
                conn_done(f, fd);
            } else {
                close(fd); /* too many connections: refuse rather than queue */
            }
        }
        pthread_attr_destroy(&attr);
    }
    return NULL;
}

int tls_front_start(const char *addr, int backend_port, crypto_tls_server *tls,
                    int max_conns, tls_front **out, char *err, size_t err_len)
{
    tls_front *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    f->backend_port = backend_port;
    f->tls = tls;
    f->max_conns = max_conns > 0 ? max_conns : 256;
    f->fds = calloc((size_t)f->max_conns, sizeof *f->fds);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->idle, NULL);
    if (!f->fds || listen_on(addr, &f->listen_fd, &f->port, err, err_len) != 0) {
        free(f->fds);
        free(f);
        return -1;
    }
    if (pthread_create(&f->accept_thread, NULL, accept_main, f) != 0) {
        close(f->listen_fd);
        free(f->fds);
        free(f);
        snprintf(err, err_len, "cannot start the TLS listener");
        return -1;
    }
    *out = f;
    return 0;
}

int tls_front_port(const tls_front *f)
{
    return f->port;
}

void tls_front_stop(tls_front *f)
{
    if (!f) {
        return;
    }
    atomic_store(&f->stopping, true);
    shutdown(f->listen_fd, SHUT_RDWR);
    pthread_join(f->accept_thread, NULL);
    close(f->listen_fd);
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->active; i++) {
        shutdown(f->fds[i], SHUT_RDWR);
    }
    while (f->active > 0) {
        pthread_cond_wait(&f->idle, &f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->idle);
    free(f->fds);
    free(f);
}
