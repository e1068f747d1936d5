/*
 * http.c: civetweb adapter for the API (see http.h).
 */
#include "http.h"

#include "tls_front.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define PATH_BYTES 4096

struct http_server {
    struct mg_context *ctx;
    struct http_config cfg;
    int port;
    crypto_tls_server *tls; /* NULL for plain HTTP */
    tls_front *front;
};

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

/* Reads the body into a new buffer, up to limit bytes; *too_large when there is more. */
static char *read_body(struct mg_connection *conn, long long declared, size_t limit,
                       size_t *len, bool *too_large)
{
    *len = 0;
    *too_large = declared > (long long)limit;
    if (*too_large || declared == 0) {
        return NULL;
    }
    /* With a Content-Length, read exactly that; chunked, read up to limit + 1 to tell. */
    size_t want = declared > 0 ? (size_t)declared : limit + 1;
    size_t cap = declared > 0 ? (size_t)declared : 65536;
    char *buf = malloc(cap + 1);
    while (buf && *len < want) {
        if (*len == cap) {
            cap = cap * 2 > want ? want : cap * 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                break;
            }
            buf = nb;
        }
        int n = mg_read(conn, buf + *len, cap - *len);
        if (n <= 0) {
            break;
        }
        *len += (size_t)n;
    }
    if (*len > limit) {
        *too_large = true;
    }
    return buf;
}

/* The path as sent (civetweb runs with decode_url=no), refused (as an unroutable "/?") when
 * it holds what no route has: dot segments, empty segments, percent-escapes or other
 * characters outside [A-Za-z0-9._-/]. */
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

static void send_response(struct mg_connection *conn, const struct api_response *resp,
                          bool close_after)
{
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n%s",
                     resp->status, mg_get_response_code_text(conn, resp->status),
                     resp->content_type, resp->body.len,
                     close_after ? "Connection: close\r\n" : "");
    if (resp->allow) {
        n += snprintf(head + n, sizeof head - (size_t)n, "Allow: %s\r\n", resp->allow);
    }
    if (resp->set_cookie[0]) {
        n += snprintf(head + n, sizeof head - (size_t)n, "Set-Cookie: %s\r\n", resp->set_cookie);
    }
    if (resp->page) {
        /* The console's pages: its own scripts only, no framing, no sniffing. */
        n += snprintf(head + n, sizeof head - (size_t)n,
                      "Content-Security-Policy: default-src 'self'; img-src 'self' data:; "
                      "frame-ancestors 'none'; form-action 'self'; base-uri 'none'\r\n"
                      "X-Frame-Options: DENY\r\nX-Content-Type-Options: nosniff\r\n"
                      "Referrer-Policy: no-referrer\r\n");
    }
    if (resp->retry_after_s > 0) {
        n += snprintf(head + n, sizeof head - (size_t)n, "Retry-After: %d\r\n",
                      resp->retry_after_s);
    }
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    /* One write for head and body: two small writes meet Nagle's algorithm and the peer's
     * delayed ACK, 40 ms a response (seen here before this). */
    size_t total = (size_t)n + resp->body.len;
    char *out = malloc(total);
    if (out) {
        memcpy(out, head, (size_t)n);
        memcpy(out + n, resp->body.p ? resp->body.p : "", resp->body.len);
        mg_write(conn, out, total);
        free(out);
    } else {
        mg_write(conn, head, (size_t)n);
        mg_write(conn, resp->body.p, resp->body.len);
    }
}

static void log_request(const struct mg_request_info *ri, const char *path, int status,
                        double ms, size_t bytes)
{
    /* One line a request: no secrets, no bodies, no query (it may carry cursors only). */
    fprintf(stderr,
            "{\"level\":\"info\",\"msg\":\"request\",\"method\":\"%s\",\"route\":\"%s\","
            "\"status\":%d,\"ms\":%.3f,\"bytes\":%zu,\"remote\":\"%s\"}\n",
            ri->request_method, api_route_name(ri->request_method, path)[0]
                                    ? api_route_name(ri->request_method, path) : "unknown",
            status, ms, bytes, ri->remote_addr);
}

static int handle(struct mg_connection *conn, void *data)
{
    http_server *s = data;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    struct timespec t0;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* local_uri_raw: not cleaned of "..", so such paths are seen and refused. */
    const char *path = checked_path(ri->local_uri_raw ? ri->local_uri_raw : ri->request_uri);
    const char *query = ri->query_string ? ri->query_string : "";
    char pq[PATH_BYTES];
    snprintf(pq, sizeof pq, "%s%s%s", path, query[0] ? "?" : "", query);
    struct api_request req = {
        .method = ri->request_method,
        .path = path,
        .query = query,
        .path_and_query = pq,
        .content_type = mg_get_header(conn, "Content-Type"),
        .key = mg_get_header(conn, "X-JZ-Key"),
        .timestamp = mg_get_header(conn, "X-JZ-Timestamp"),
        .nonce = mg_get_header(conn, "X-JZ-Nonce"),
        .signature = mg_get_header(conn, "X-JZ-Signature"),
        .cookie = mg_get_header(conn, "Cookie"),
        .csrf = mg_get_header(conn, "X-CSRF-Token"),
    };
    size_t len = 0;
    bool too_large = false;
    char *body = read_body(conn, ri->content_length, api_body_limit(path), &len, &too_large);
    req.body = body ? body : "";
    req.body_len = len;
    req.body_too_large = too_large;
    struct api_response resp;
    api_handle(s->cfg.api, &req, &resp);
    /* After refusing a body we did not read, the connection cannot be reused. */
    send_response(conn, &resp, too_large);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (s->cfg.log_requests) {
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        log_request(ri, path, resp.status, ms, resp.body.len);
    }
    int status = resp.status;
    api_response_free(&resp);
    free(body);
    return status;
}

static bool is_loopback(const char *listen)
{
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "localhost:", 10) == 0 ||
           strncmp(listen, "[::1]:", 6) == 0;
}

static int log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"http\",\"detail\":\"%.200s\"}\n", message);
    return 1;
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
    char ports[256];
    char threads[16];
    /* With TLS, civetweb serves only the relay from the TLS front, on loopback. */
    snprintf(ports, sizeof ports, "%s", tls ? "127.0.0.1:0" : cfg->listen);
    snprintf(threads, sizeof threads, "%d", cfg->threads > 0 ? cfg->threads : 256);
    if (tls && crypto_tls_server_new(cfg->tls_cert, cfg->tls_key, &s->tls, err, err_len) != 0) {
        free(s);
        return -1;
    }
    mg_init_library(0);
    const char *options[] = {
        "listening_ports", ports, "num_threads", threads, "enable_keep_alive", "yes",
        "keep_alive_timeout_ms", "60000", "request_timeout_ms", "30000",
        "listen_backlog", "1024", "max_request_size", "16384", "tcp_nodelay", "1",
        /* The path as sent: the signature covers it byte for byte (API.md). */
        "decode_url", "no", NULL, NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.log_message = log_message;
    s->ctx = mg_start(&cb, s, options);
    if (!s->ctx) {
        snprintf(err, err_len, "cannot listen on %s (in use, or a bad address?)", ports);
        crypto_tls_server_free(s->tls);
        free(s);
        return -1;
    }
    mg_set_request_handler(s->ctx, "/", handle, s);
    struct mg_server_port p[4];
    int n = mg_get_server_ports(s->ctx, 4, p);
    s->port = n > 0 ? p[0].port : 0;
    if (tls && tls_front_start(cfg->listen, s->port, s->tls, cfg->threads > 0 ? cfg->threads : 256,
                               &s->front, err, err_len) != 0) {
        mg_stop(s->ctx);
        crypto_tls_server_free(s->tls);
        free(s);
        return -1;
    }
    if (tls) {
        s->port = tls_front_port(s->front);
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
    mg_stop(s->ctx);          /* in-flight requests finish first */
    crypto_tls_server_free(s->tls);
    free(s);
}
