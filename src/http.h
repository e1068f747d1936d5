/*
 * http.h: the HTTP/1.1 server in front of the API, on h2o's event loop (Debian's
 * libh2o-evloop 2.2.5).
 *
 * Why h2o (bench/http_libs/ has the measurements): the API answers only once a request is
 * durable (~1-2 ms of group commit), so throughput needs hundreds of requests in flight
 * without a thread each. With answers deferred that way, on 256 connections, h2o did ~72k
 * req/s where libevent did ~50k, libmicrohttpd ~45k and civetweb (which this server used
 * first, a blocked thread per request) ~20-33k; h2o also batches its cross-thread wake-ups.
 * Its cost is maintenance: Debian's 2.2.5 is an old snapshot whose API upstream has moved
 * on, so this file is the only one that knows it. TLS stays with tls_front.c (OpenSSL 3,
 * Debian's maintained package), which relays to h2o on loopback.
 *
 * h2o's headers pull in OpenSSL's; nothing here calls OpenSSL.
 */
#ifndef JZ_HTTP_H
#define JZ_HTTP_H

#include "api.h"

struct http_config {
    const char *listen;   /* "127.0.0.1:8080", port 0 for any free one */
    int loops;            /* event-loop threads; 0 = 1 */
    int threads;          /* worker threads for requests that may block; 0 = 64 */
    const char *tls_cert; /* PEM certificate chain, or NULL for plain HTTP */
    const char *tls_key;  /* PEM private key */
    const char *data_dir;
    bool insecure;        /* allow plain HTTP on a non-loopback address */
    bool log_requests;    /* one JSON line per request on stderr */
    api *api;
};

typedef struct http_server http_server;

/* Starts listening and serving. Refuses a non-loopback address without TLS unless
 * insecure is set. */
int http_start(const struct http_config *cfg, http_server **out, char *err, size_t err_len);
/* The port actually bound. */
int http_port(const http_server *s);
/* Stops accepting, lets in-flight requests finish, and frees the server. */
void http_stop(http_server *s);

#endif
