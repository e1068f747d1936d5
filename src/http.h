/*
 * http.h: the HTTP/1.1 server in front of the API, on civetweb (Debian's libcivetweb).
 *
 * Why civetweb, and why it is not the last word (bench/http_libs/ has the measurements):
 * its worker threads may block until their request is durable, which let the API be written
 * as plain sequential code first, and group commit gathers the waiting workers' requests
 * into one fsync. But the comparison finished since shows it is the weakest of Debian's four at
 * what the API needs: with answers deferred until a ~1 ms group commit, on 256 connections,
 * civetweb did ~20-33k req/s where h2o did ~72k, libevent ~50k and libmicrohttpd ~45k (and
 * ~80-110k immediate at ~100k req/s per core). Its recommendation: libmicrohttpd's epoll pool
 * with suspend/resume, the request resumed from the executor's callback
 * (executor_request.on_done); its TLS is GnuTLS, so tls_front.c would stay for OpenSSL.
 * TLS is terminated by tls_front.c through OpenSSL 3 (Debian 12's civetweb cannot drive
 * OpenSSL 3 itself); civetweb then listens on loopback.
 * Only this module includes civetweb.h.
 */
#ifndef JZ_HTTP_H
#define JZ_HTTP_H

#include "api.h"

struct http_config {
    const char *listen;   /* "127.0.0.1:8080", port 0 for any free one */
    int threads;          /* worker threads = connections served at once; 0 = 256 */
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
