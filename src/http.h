/*
 * http.h: the HTTP/1.1 server in front of the API, on civetweb (Debian's libcivetweb).
 *
 * Why civetweb (bench/http_libs/README.md has the measurements): a pool of worker threads,
 * each serving one keep-alive connection at a time and free to block, fits the API's model
 * (a worker waits until its request is durable, and group commit gathers the waiting
 * workers' requests into one fsync); it is small, maintained, packaged by Debian, and bounds
 * request headers, bodies and connections. TLS is terminated by tls_front.c through OpenSSL 3
 * (Debian 12's civetweb cannot drive OpenSSL 3 itself); civetweb then listens on loopback.
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
