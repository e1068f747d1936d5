/*
 * http.c: one signed HTTP/1.1 request at a time over a keep-alive TCP connection.
 *
 * The socket is non-blocking and every wait goes through poll with the attempt's deadline,
 * so no call blocks longer than timeout_ms (name resolution aside: getaddrinfo has no
 * timeout, which is why numeric hosts are recommended). A request is written in one send.
 * Answers are read with Content-Length, chunked transfer coding, or until the server closes;
 * every size is bounded (sdk_int.h). A keep-alive connection the server has closed in the
 * meantime is detected before reuse, or when it yields nothing at all, and replaced once
 * without counting as a retry. Retries follow the public header: transport failures and 503.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "crypto.h"
#include "sdk_int.h"

void sdk_conn_close(struct sdk_conn *conn)
{
    if (conn->fd >= 0) {
        close(conn->fd);
    }
    conn->fd = -1;
    conn->rpos = 0;
    conn->rlen = 0;
}

void sdk_response_free(struct sdk_response *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_cap = 0;
    resp->body_len = 0;
}

int64_t sdk_backoff_ms(int retry)
{
    ASSERT(retry >= 1);
    int64_t d = SDK_BACKOFF_BASE_MS;
    for (int i = 1; i < retry && d < SDK_BACKOFF_MAX_MS; i++) {
        d *= 2;
    }
    return d < SDK_BACKOFF_MAX_MS ? d : SDK_BACKOFF_MAX_MS;
}

/* Waits until fd is ready for events or the deadline passes: 0 ready, -1 with errno
 * (ETIMEDOUT when the deadline passed). */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - sdk_mono_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (n > 0) {
            return 0;
        }
        if (n < 0 && errno != EINTR) {
            return -1;
        }
    }
}

/* Sets the error for a failed socket operation; a passed deadline is "timeout". */
static int transport_error(jz_error *err, const jz_client *c, const char *what)
{
    if (errno == ETIMEDOUT) {
        sdk_error_set(err, 0, "timeout", "", "%s: no answer within %d ms (%s)", c->host_header,
                      c->timeout_ms, what);
    } else {
        sdk_error_set(err, 0, "connection_failed", "", "%s: %s: %s", c->host_header, what,
                      strerror(errno));
    }
    return SDK_ATTEMPT_RETRY;
}

static int connect_one(const struct addrinfo *ai, int64_t deadline_ms)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        int so_error = 0;
        socklen_t len = sizeof so_error;
        if (errno != EINPROGRESS || wait_fd(fd, POLLOUT, deadline_ms) != 0 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 || so_error != 0) {
            int saved = so_error ? so_error : errno;
            close(fd);
            errno = saved;
            return -1;
        }
    }
    /* Requests are written whole; Nagle would only add latency. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int conn_open(jz_client *c, jz_error *err)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(c->host, c->port, &hints, &res);
    if (rc != 0) {
        sdk_error_set(err, 0, "connection_failed", "", "%s: cannot resolve: %s", c->host_header,
                      gai_strerror(rc));
        return rc == EAI_AGAIN ? SDK_ATTEMPT_RETRY : SDK_ATTEMPT_FAIL;
    }
    int fd = -1;
    for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = connect_one(ai, c->conn.deadline_ms);
        if (fd < 0 && errno == ETIMEDOUT) {
            break;
        }
    }
    int saved = errno;
    freeaddrinfo(res);
    if (fd < 0) {
        errno = saved;
        return transport_error(err, c, "connect");
    }
    c->conn.fd = fd;
    c->conn.rpos = 0;
    c->conn.rlen = 0;
    return SDK_ATTEMPT_OK;
}

/* A kept-alive connection is usable when it has nothing to read: data or EOF there means the
 * server closed it (or broke the protocol), and it must not carry the next request. */
static bool conn_usable(const struct sdk_conn *conn)
{
    struct pollfd p = {.fd = conn->fd, .events = POLLIN};
    return poll(&p, 1, 0) == 0 && conn->rpos == conn->rlen;
}

static int send_all(struct sdk_conn *conn, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(conn->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(conn->fd, POLLOUT, conn->deadline_ms) != 0) {
                return -1;
            }
            continue;
        }
        return -1;
    }
    return 0;
}

/* Receives more bytes into the read buffer: > 0 bytes, 0 on EOF, -1 with errno. */
static ssize_t conn_fill(struct sdk_conn *conn)
{
    if (conn->rpos == conn->rlen) {
        conn->rpos = 0;
        conn->rlen = 0;
    } else if (conn->rpos > 0) {
        memmove(conn->rbuf, conn->rbuf + conn->rpos, conn->rlen - conn->rpos);
        conn->rlen -= conn->rpos;
        conn->rpos = 0;
    }
    ASSERT(conn->rlen < conn->rcap);
    for (;;) {
        ssize_t n = recv(conn->fd, conn->rbuf + conn->rlen, conn->rcap - conn->rlen, 0);
        if (n >= 0) {
            conn->rlen += (size_t)n;
            conn->received += (size_t)n;
            return n;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return -1;
        }
        if (wait_fd(conn->fd, POLLIN, conn->deadline_ms) != 0) {
            return -1;
        }
    }
}

/* Sets err for a read that could not continue (fill returned n <= 0). */
static int read_failed(struct sdk_conn *conn, ssize_t n, jz_error *err)
{
    if (n == 0) {
        sdk_error_set(err, 0, "connection_failed", "",
                      conn->received ? "the server closed the connection mid-answer"
                                     : "the server closed the connection without answering");
    } else if (errno == ETIMEDOUT) {
        sdk_error_set(err, 0, "timeout", "", "no complete answer before the deadline");
    } else {
        sdk_error_set(err, 0, "connection_failed", "", "receive: %s", strerror(errno));
    }
    return SDK_ATTEMPT_RETRY;
}

static int bad_http(jz_error *err, const char *what)
{
    sdk_error_set(err, 0, "bad_response", "", "the server's answer is not valid HTTP: %s", what);
    return SDK_ATTEMPT_FAIL;
}

/* Next line without its CR LF; *line points into the read buffer until the next fill.
 * *budget counts down the header bytes still allowed. */
static int read_line(struct sdk_conn *conn, char **line, size_t *len, size_t *budget,
                     jz_error *err)
{
    size_t scanned = 0;
    for (;;) {
        char *start = conn->rbuf + conn->rpos;
        size_t avail = conn->rlen - conn->rpos;
        char *nl = memchr(start + scanned, '\n', avail - scanned);
        if (nl) {
            size_t n = (size_t)(nl - start) + 1;
            if (n > *budget) {
                return bad_http(err, "headers too large");
            }
            *budget -= n;
            conn->rpos += n;
            *line = start;
            *len = n - 1 - (n >= 2 && start[n - 2] == '\r');
            return SDK_ATTEMPT_OK;
        }
        scanned = avail;
        if (avail >= *budget || avail >= conn->rcap - 1) {
            return bad_http(err, "headers too large");
        }
        ssize_t r = conn_fill(conn);
        if (r <= 0) {
            return read_failed(conn, r, err);
        }
    }
}

static int body_reserve(struct sdk_response *resp, size_t extra, jz_error *err)
{
    if (extra > SDK_BODY_BYTES_MAX || resp->body_len > SDK_BODY_BYTES_MAX - extra) {
        return bad_http(err, "body too large");
    }
    size_t need = resp->body_len + extra + 1;
    if (need <= resp->body_cap) {
        return SDK_ATTEMPT_OK;
    }
    size_t cap = resp->body_cap ? resp->body_cap : 4096;
    while (cap < need) {
        cap *= 2;
    }
    char *b = realloc(resp->body, cap);
    if (!b) {
        sdk_error_set(err, 0, "out_of_memory", "", "out of memory for a %zu-byte answer", need);
        return SDK_ATTEMPT_FAIL;
    }
    resp->body = b;
    resp->body_cap = cap;
    return SDK_ATTEMPT_OK;
}

/* Appends exactly n body bytes (or, with to_eof, everything until the server closes). */
static int read_body_bytes(struct sdk_conn *conn, struct sdk_response *resp, size_t n,
                           bool to_eof, jz_error *err)
{
    while (to_eof || n > 0) {
        if (conn->rpos == conn->rlen) {
            ssize_t r = conn_fill(conn);
            if (r == 0 && to_eof) {
                return SDK_ATTEMPT_OK;
            }
            if (r <= 0) {
                return read_failed(conn, r, err);
            }
        }
        size_t avail = conn->rlen - conn->rpos;
        size_t take = to_eof || avail < n ? avail : n;
        int rc = body_reserve(resp, take, err);
        if (rc != SDK_ATTEMPT_OK) {
            return rc;
        }
        memcpy(resp->body + resp->body_len, conn->rbuf + conn->rpos, take);
        resp->body_len += take;
        conn->rpos += take;
        n -= to_eof ? 0 : take;
    }
    return SDK_ATTEMPT_OK;
}

static int read_chunked(struct sdk_conn *conn, struct sdk_response *resp, jz_error *err)
{
    size_t budget = SDK_HEADER_BYTES_MAX; /* for chunk-size lines, CRLFs and trailers */
    for (;;) {
        char *line;
        size_t len;
        int rc = read_line(conn, &line, &len, &budget, err);
        if (rc != SDK_ATTEMPT_OK) {
            return rc;
        }
        size_t size = 0;
        size_t i = 0;
        for (; i < len && i < 9; i++) {
            int d = line[i] >= '0' && line[i] <= '9'   ? line[i] - '0'
                    : line[i] >= 'a' && line[i] <= 'f' ? line[i] - 'a' + 10
                    : line[i] >= 'A' && line[i] <= 'F' ? line[i] - 'A' + 10
                                                       : -1;
            if (d < 0) {
                break;
            }
            size = size * 16 + (size_t)d;
        }
        if (i == 0 || (i < len && line[i] != ';' && line[i] != ' ' && line[i] != '\t')) {
            return bad_http(err, "bad chunk size");
        }
        if (size == 0) {
            break;
        }
        rc = read_body_bytes(conn, resp, size, false, err);
        if (rc == SDK_ATTEMPT_OK) {
            rc = read_line(conn, &line, &len, &budget, err);
        }
        if (rc != SDK_ATTEMPT_OK) {
            return rc;
        }
        if (len != 0) {
            return bad_http(err, "chunk not followed by CRLF");
        }
    }
    for (;;) { /* trailers, up to the empty line */
        char *line;
        size_t len;
        int rc = read_line(conn, &line, &len, &budget, err);
        if (rc != SDK_ATTEMPT_OK || len == 0) {
            return rc;
        }
    }
}

/* What the headers told us about the body. */
struct head_info {
    long long content_length; /* -1 when absent */
    bool chunked;
    bool keep_alive;
};

static bool has_token(const char *v, size_t len, const char *token)
{
    size_t tl = strlen(token);
    for (size_t i = 0; i + tl <= len; i++) {
        bool start = i == 0 || v[i - 1] == ',' || v[i - 1] == ' ' || v[i - 1] == '\t';
        bool end = i + tl == len || v[i + tl] == ',' || v[i + tl] == ' ' || v[i + tl] == ';';
        if (start && end && strncasecmp(v + i, token, tl) == 0) {
            return true;
        }
    }
    return false;
}

static long long parse_decimal(const char *v, size_t len, long long max)
{
    if (len == 0 || len > 18) {
        return -1;
    }
    long long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return -1;
        }
        n = n * 10 + (v[i] - '0');
    }
    return n <= max ? n : -1;
}

static int parse_header(char *line, size_t len, struct sdk_response *resp,
                        struct head_info *hi, jz_error *err)
{
    char *colon = memchr(line, ':', len);
    if (!colon || colon == line) {
        return bad_http(err, "header without a name");
    }
    size_t nlen = (size_t)(colon - line);
    char *v = colon + 1;
    size_t vlen = len - nlen - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) {
        vlen--;
    }
    if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
        long long n = parse_decimal(v, vlen, SDK_BODY_BYTES_MAX);
        if (n < 0 || (hi->content_length >= 0 && hi->content_length != n)) {
            return bad_http(err, "bad or too large Content-Length");
        }
        hi->content_length = n;
    } else if (nlen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
        if (!has_token(v, vlen, "chunked")) {
            return bad_http(err, "unsupported Transfer-Encoding");
        }
        hi->chunked = true;
    } else if (nlen == 10 && strncasecmp(line, "Connection", 10) == 0) {
        resp->close = resp->close || has_token(v, vlen, "close");
        hi->keep_alive = hi->keep_alive || has_token(v, vlen, "keep-alive");
    } else if (nlen == 11 && strncasecmp(line, "Retry-After", 11) == 0) {
        long long s = parse_decimal(v, vlen, 86400);
        resp->retry_after_ms = s < 0 ? -1 : s * 1000;
    }
    return SDK_ATTEMPT_OK;
}

/* Status line and headers of one answer (1xx interim answers are read past by the caller). */
static int read_head(struct sdk_conn *conn, struct sdk_response *resp, struct head_info *hi,
                     jz_error *err)
{
    size_t budget = SDK_HEADER_BYTES_MAX;
    char *line;
    size_t len;
    int rc = read_line(conn, &line, &len, &budget, err);
    if (rc != SDK_ATTEMPT_OK) {
        return rc;
    }
    if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
        line[8] != ' ' || parse_decimal(line + 9, 3, 999) < 100 ||
        (len > 12 && line[12] != ' ')) {
        return bad_http(err, "bad status line");
    }
    bool http10 = line[7] == '0';
    resp->status = (int)parse_decimal(line + 9, 3, 999);
    resp->close = false;
    resp->retry_after_ms = -1;
    hi->content_length = -1;
    hi->chunked = false;
    hi->keep_alive = false;
    for (;;) {
        rc = read_line(conn, &line, &len, &budget, err);
        if (rc != SDK_ATTEMPT_OK) {
            return rc;
        }
        if (len == 0) {
            break;
        }
        rc = parse_header(line, len, resp, hi, err);
        if (rc != SDK_ATTEMPT_OK) {
            return rc;
        }
    }
    if (http10 && !hi->keep_alive) {
        resp->close = true;
    }
    return SDK_ATTEMPT_OK;
}

int sdk_read_response(struct sdk_conn *conn, struct sdk_response *resp, jz_error *err)
{
    struct head_info hi = {.content_length = -1};
    int rc;
    do {
        rc = read_head(conn, resp, &hi, err);
        if (rc != SDK_ATTEMPT_OK) {
            return rc;
        }
    } while (resp->status >= 100 && resp->status < 200 && resp->status != 101);
    resp->body_len = 0;
    rc = body_reserve(resp, 0, err);
    if (rc != SDK_ATTEMPT_OK) {
        return rc;
    }
    if (resp->status == 101) {
        return bad_http(err, "unexpected protocol switch");
    }
    if (resp->status == 204 || resp->status == 304) {
        rc = SDK_ATTEMPT_OK;
    } else if (hi.chunked) {
        rc = read_chunked(conn, resp, err);
    } else if (hi.content_length >= 0) {
        rc = read_body_bytes(conn, resp, (size_t)hi.content_length, false, err);
    } else {
        resp->close = true;
        rc = read_body_bytes(conn, resp, 0, true, err);
    }
    if (rc == SDK_ATTEMPT_OK) {
        resp->body[resp->body_len] = '\0';
    }
    return rc;
}

/* Writes the request (head and body) into client->req. */
static int build_request(jz_client *c, const char *method, const char *path, const char *body,
                         size_t body_len, bool sign, size_t *out_len, jz_error *err)
{
    char auth[512] = "";
    if (sign) {
        char nonce[SDK_NONCE_LEN + 1];
        char mac[65];
        int64_t ts = sdk_now_ms();
        if (sdk_nonce_new(nonce) != 0 ||
            sdk_sign_bytes(c->secret, sizeof c->secret, method, path, ts, nonce, body, body_len,
                           mac) != 0) {
            sdk_error_set(err, 0, "out_of_memory", "", "cannot sign the request");
            return SDK_ATTEMPT_FAIL;
        }
        snprintf(auth, sizeof auth,
                 "X-JZ-Key: %s\r\nX-JZ-Timestamp: %lld\r\nX-JZ-Nonce: %s\r\n"
                 "X-JZ-Signature: %s\r\n",
                 c->key_id, (long long)ts, nonce, mac);
    }
    char length[96] = "";
    if (body_len > 0) {
        snprintf(length, sizeof length,
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n", body_len);
    }
    size_t need = strlen(method) + strlen(path) + strlen(c->host_header) + strlen(auth) +
                  strlen(length) + body_len + 128;
    if (need > c->req_cap) {
        char *r = realloc(c->req, need);
        if (!r) {
            sdk_error_set(err, 0, "out_of_memory", "", "out of memory for the request");
            return SDK_ATTEMPT_FAIL;
        }
        c->req = r;
        c->req_cap = need;
    }
    int n = snprintf(c->req, c->req_cap,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: jiaozi-sdk/1\r\n"
                     "Accept: application/json\r\n%s%s\r\n",
                     method, path, c->host_header, length, auth);
    ASSERT(n > 0 && (size_t)n + body_len < c->req_cap);
    if (body_len > 0) {
        memcpy(c->req + n, body, body_len);
    }
    *out_len = (size_t)n + body_len;
    return SDK_ATTEMPT_OK;
}

/* One attempt: send and read the answer, replacing a stale kept-alive connection once. The
 * request is signed afresh for the second pass: the server may have seen the first nonce. */
static int attempt_once(jz_client *c, const char *method, const char *path, const char *body,
                        size_t body_len, bool sign, jz_error *err)
{
    int rc = SDK_ATTEMPT_FAIL;
    c->conn.deadline_ms = sdk_mono_ms() + c->timeout_ms;
    for (int pass = 0; pass < 2; pass++) {
        size_t req_len = 0;
        rc = build_request(c, method, path, body, body_len, sign, &req_len, err);
        if (rc != SDK_ATTEMPT_OK) {
            return rc;
        }
        if (c->conn.fd >= 0 && !conn_usable(&c->conn)) {
            sdk_conn_close(&c->conn);
        }
        bool reused = c->conn.fd >= 0;
        if (!reused) {
            rc = conn_open(c, err);
            if (rc != SDK_ATTEMPT_OK) {
                return rc;
            }
        }
        c->conn.received = 0;
        if (send_all(&c->conn, c->req, req_len) != 0) {
            rc = transport_error(err, c, "send");
        } else {
            rc = sdk_read_response(&c->conn, &c->resp, err);
        }
        if (rc == SDK_ATTEMPT_OK && !c->resp.close) {
            return rc;
        }
        bool stale = rc == SDK_ATTEMPT_RETRY && reused && c->conn.received == 0 &&
                     strcmp(err ? err->code : "", "timeout") != 0;
        sdk_conn_close(&c->conn);
        if (!stale) {
            return rc;
        }
    }
    return rc;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Half to all of d, so clients that failed together do not retry together. */
static int64_t jitter(int64_t d)
{
    uint32_t r = 0;
    if (d < 2 || crypto_random(&r, sizeof r) != 0) {
        return d;
    }
    return d / 2 + (int64_t)(r % (uint32_t)(d / 2 + 1));
}

int sdk_request(jz_client *c, const char *method, const char *path, const char *body,
                size_t body_len, bool sign, jz_error *err)
{
    ASSERT(c && method && path && path[0] == '/');
    jz_error last;
    memset(&last, 0, sizeof last);
    c->attempts = 0;
    c->last_status = 0;
    int64_t delay = 0;
    for (int attempt = 0; attempt <= c->max_retries; attempt++) {
        if (attempt > 0) {
            sleep_ms(delay);
        }
        c->attempts++;
        int rc = attempt_once(c, method, path, body, body_len, sign, &last);
        if (rc == SDK_ATTEMPT_FAIL) {
            break;
        }
        delay = jitter(sdk_backoff_ms(attempt + 1));
        if (rc == SDK_ATTEMPT_RETRY) {
            continue;
        }
        int status = c->resp.status;
        c->last_status = status;
        if (status >= 200 && status < 300) {
            return 0;
        }
        sdk_parse_error(status, c->resp.body, c->resp.body_len, &last);
        if (status != 503) {
            break;
        }
        if (c->resp.retry_after_ms >= 0) {
            delay = c->resp.retry_after_ms < JZ_RETRY_AFTER_MAX_MS ? c->resp.retry_after_ms
                                                                   : JZ_RETRY_AFTER_MAX_MS;
        }
    }
    if (c->attempts > 1) {
        char msg[sizeof last.message + 32];
        snprintf(msg, sizeof msg, "%s (after %d attempts)", last.message, c->attempts);
        sdk_copy_text(last.message, sizeof last.message, msg);
    }
    if (err) {
        *err = last;
    }
    return -1;
}
